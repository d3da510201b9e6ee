import { readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { launchChromium, screenshot } from '../helpers/browser'
import { listenOnLoopback, type Listening } from '../helpers/listen'
import {
  killAllProcesses,
  projectRoot,
  startServerProcess,
  tempDatabase,
  type ServerProcess,
} from '../helpers/server-process'

// SPEC §13: docs/examples/progress.html, served from an origin of its own, shows one status's progress
// in Chromium with nothing but a browser token: a REST read and then the event stream with ?token=.

jest.setTimeout(120_000)

const database = tempDatabase()
let pages: Listening
let server: ServerProcess
let browser: Browser

beforeAll(async () => {
  const page = readFileSync(path.join(projectRoot, 'docs', 'examples', 'progress.html'))
  pages = await listenOnLoopback(
    http.createServer((_req, res) =>
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page),
    ),
  )
  // The page's origin, and only it, may read the API's answers.
  server = await startServerProcess({ DATABASE_URL: database.url, CORS_ORIGINS: pages.url })
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  await killAllProcesses()
  await pages?.close()
  database.cleanup()
})

const call = async (method: string, route: string, body?: unknown) => {
  const res = await fetch(`${server.baseUrl}${route}`, {
    method,
    headers: { Authorization: `Bearer ${server.adminKey}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return (await res.json()) as Record<string, unknown>
}

test('when the example page is opened with a token from another origin, then its bar follows the status to the end', async () => {
  await call('POST', '/api/status', { status_id: 'upload-7', status: 'processing', progress_percentage: 10 })
  await call('POST', '/api/status', { status_id: 'someone-else', status: 'processing' })
  const { token } = (await call('POST', '/api/tokens', { status_ids: ['upload-7'], ttl_s: 600 })) as {
    token: string
  }
  const context = await browser.newContext()
  const page = await context.newPage()
  const query = new URLSearchParams({ base: server.baseUrl, id: 'upload-7', token })
  await page.goto(`${pages.url}/progress.html?${query}`)
  await page.locator('#state', { hasText: 'processing' }).waitFor()
  expect(await page.locator('#bar').getAttribute('value')).toBe('10')

  await call('PUT', '/api/status/someone-else', { progress_percentage: 99 })
  await call('PUT', '/api/status/upload-7', { progress_percentage: 60, message: 'Encoding' })
  await page.locator('#percent', { hasText: '60 %' }).waitFor()
  await call('PUT', '/api/status/upload-7', { new_status: 'completed' })
  await page.locator('#state', { hasText: 'completed' }).waitFor()
  expect(await page.locator('#bar').getAttribute('value')).toBe('100')
  await screenshot(page, 'token-progress-page')

  // The same page with a token for another status cannot read this one.
  const { token: other } = (await call('POST', '/api/tokens', { status_ids: ['someone-else'] })) as {
    token: string
  }
  await page.goto(
    `${pages.url}/progress.html?${new URLSearchParams({ base: server.baseUrl, id: 'upload-7', token: other })}`,
  )
  await page.locator('#state', { hasText: 'Cannot read it (404)' }).waitFor()
  await context.close()
})
