import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { chromiumCandidates, chromiumPath } from '../../scripts/lib/chromium'
import { projectRoot } from './server-process'

export const screenshotsDir = path.join(projectRoot, 'test_reports', 'screenshots')

/** Headless Chromium from the system (Debian's package), never a browser downloaded by Playwright. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath()
  if (!executablePath) {
    throw new Error(
      `No Chromium at ${chromiumCandidates().join(' or ')}: run scripts/install-chromium.sh or set CHROMIUM_PATH`,
    )
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  })
}

/** Saves a full-page screenshot as test_reports/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotsDir, { recursive: true })
  const file = path.join(screenshotsDir, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  return file
}
