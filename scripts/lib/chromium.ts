import { accessSync, constants } from 'node:fs'

/** Where the browser tests look for Chromium, in order: CHROMIUM_PATH, then Debian's package. */
export const chromiumCandidates = (env = process.env) =>
  [env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    (candidate): candidate is string => Boolean(candidate),
  )

const executable = (file: string) => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The first installed Chromium, or undefined. */
export const chromiumPath = (env = process.env): string | undefined =>
  chromiumCandidates(env).find(executable)
