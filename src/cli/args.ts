import { parseArgs } from 'node:util'
import { createStatusTrackerClient, StatusTrackerError, StatusTrackerNetworkError } from '../client'
import type { StatusTrackerClient } from '../client'

/** The exit codes scripts can rely on (docs/cli.md); `run` exits with its command's own code instead. */
export const EXIT = {
  ok: 0,
  /** `watch --until terminal`: a watched status failed or was cancelled. */
  unsuccessful: 1,
  usage: 2,
  /** The service answered with an error (not found, not allowed, an invalid request…). */
  refused: 3,
  /** The service could not be reached. */
  unreachable: 4,
} as const

/** A bad command line: printed with the subcommand's usage, exit code 2. */
export class UsageError extends Error {}

/** A flag: a string, several strings, or a switch. */
type Flag = { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
export type Flags = Record<string, Flag>
type Values<F extends Flags> = {
  [K in keyof F]?: F[K] extends { type: 'boolean' }
    ? boolean
    : F[K] extends { multiple: true }
      ? string[]
      : string
}

/** The options every subcommand takes. */
export const COMMON_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Flags

export const COMMON_HELP = `Common options:
  --url URL      the service (default $STATUS_TRACKER_URL, else http://localhost:3000)
  --token T      an API key or a browser token (default $STATUS_TRACKER_TOKEN)
  -h, --help     this help`

export interface Command {
  usage: string
  run(argv: string[], io: Io): Promise<number>
}

/** Where a command writes, and what it reads from its environment (a test gives its own). */
export interface Io {
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  env: NodeJS.ProcessEnv
}

export interface Parsed<F extends Flags> {
  values: Values<F> & Values<typeof COMMON_OPTIONS>
  positionals: string[]
  /** A `--` ended the options (what follows it is in `positionals`). */
  terminated: boolean
}

/** `parseArgs` with the common options, strict, turning its errors into a `UsageError`. */
export function parse<const F extends Flags>(argv: string[], flags: F): Parsed<F> {
  try {
    const { values, positionals, tokens } = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...flags },
      allowPositionals: true,
      strict: true,
      tokens: true,
    })
    return {
      values: values as Values<F> & Values<typeof COMMON_OPTIONS>,
      positionals,
      terminated: tokens.some((token) => token.kind === 'option-terminator'),
    }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/** A client for `--url`/`--token` or the environment. A browser token (`stt_…`) goes as a token. */
export function connect(
  values: { url?: string | undefined; token?: string | undefined },
  env: NodeJS.ProcessEnv,
  options: { retries?: number; timeoutMs?: number } = {},
): StatusTrackerClient {
  const baseUrl = values.url ?? env.STATUS_TRACKER_URL ?? 'http://localhost:3000'
  try {
    new URL(baseUrl)
  } catch {
    throw new UsageError(`--url must be a URL such as http://localhost:3000, got "${baseUrl}"`)
  }
  const credential = values.token ?? env.STATUS_TRACKER_TOKEN
  return createStatusTrackerClient({
    baseUrl,
    ...(credential !== undefined &&
      (credential.startsWith('stt_') ? { token: credential } : { apiKey: credential })),
    // A command line reconnects quickly; the subscription's own backoff caps its waits at 5 s.
    backoff: { baseMs: 200, maxMs: 2_000 },
    ...options,
  })
}

/** `key=value` pairs of `--filter`, as an object of the filter's names. */
export function filterOf(pairs: string[] | undefined, allowed: readonly string[]): Record<string, string> {
  const filter: Record<string, string> = {}
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=')
    const name = pair.slice(0, at)
    if (at <= 0 || !allowed.includes(name)) {
      throw new UsageError(`--filter takes NAME=VALUE with NAME one of ${allowed.join(', ')}; got "${pair}"`)
    }
    filter[name] = pair.slice(at + 1)
  }
  return filter
}

/** A positive number of a flag, or a `UsageError` naming it. */
export function positive(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`--${name} must be a positive number, got "${raw}"`)
  return value
}

/** Prints why a call failed and says which exit code that is. */
export function reportFailure(err: unknown, io: Io): number {
  if (err instanceof StatusTrackerError) {
    io.stderr.write(`status-tracker: ${err.status} ${err.code}: ${err.detail}\n`)
    return EXIT.refused
  }
  if (err instanceof StatusTrackerNetworkError) {
    io.stderr.write(`status-tracker: the service is unreachable: ${err.message}\n`)
    return EXIT.unreachable
  }
  throw err
}
