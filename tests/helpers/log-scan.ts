// What the servers a test file started have logged, searched for secrets. Every e2e and browser test
// file runs this after its last test (tests/helpers/log-scan-setup.ts), so each full run of those
// suites proves that no key or webhook secret it used reached a log line.

/** API keys and generated webhook secrets, whoever made them (the server, the keys CLI, a test). */
const SECRET_PATTERN = /\b(?:st|whsec)_[A-Za-z0-9_-]{32}\b/g

const remembered = new Set<string>()
const outputs: { describe: () => string; text: () => string }[] = []

/** A secret a test made up itself (e.g. a webhook secret it chose), which no pattern would find. */
export const rememberSecret = (secret: string) => {
  remembered.add(secret)
  return secret
}

/** Registers a server process's output to be searched; called for every server the helpers start. */
export function watchServerOutput(describe: () => string, stdout: () => string, stderr: () => string) {
  outputs.push({ describe, text: () => `${withoutBanner(stdout())}\n${stderr()}` })
}

// On its first start the server prints the bootstrap admin key on purpose, once, on a line of its own
// after this sentence (SPEC §6); that is the key's one delivery, not a log line.
const withoutBanner = (stdout: string) =>
  stdout.replace(/^Created an admin API key for tenant .*\n\n\s+st_\S+\n/m, '')

export interface Leak {
  process: string
  secret: string
  line: string
}

/** Each secret found in what the registered servers wrote, with the line it is on. */
export function leaksInServerOutput(): Leak[] {
  const leaks: Leak[] = []
  for (const output of outputs) {
    for (const line of output.text().split('\n')) {
      const found = new Set([
        ...(line.match(SECRET_PATTERN) ?? []),
        ...[...remembered].filter((s) => line.includes(s)),
      ])
      for (const secret of found)
        leaks.push({ process: output.describe(), secret, line: line.slice(0, 2000) })
    }
  }
  return leaks
}

/** How many lines the registered servers wrote, so a scan can show it had something to read. */
export const serverOutputLines = () =>
  outputs.reduce((n, output) => n + output.text().split('\n').filter(Boolean).length, 0)
