import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { constants } from 'node:os'
import { COMMON_HELP, connect, parse, positive, UsageError, type Command } from './args'
import { lineSplitter, tail, truncateBytes } from './lines'
import { createReporter, type Outcome } from './reporter'

const usage = `Usage: status-tracker run [options] -- CMD [ARGS…]

Runs CMD and reports it as a status: created (or taken, when --id names one that exists), marked
processing, its output lines sent as logs (stdout at level info, stderr at warn), heartbeats while it
runs, then completed on exit 0, or failed with error_info { code: "exit-<n>", message: its last lines }.
CMD's output still goes to this terminal, and the service being unreachable never fails CMD: reporting
retries in the background. SIGINT and SIGTERM go to CMD, and the status is then cancelled. A status
cancelled elsewhere while CMD runs sends CMD a SIGTERM.

Exits with CMD's exit code (128 + the signal's number when a signal ended it; 127 when CMD could not
be started; 2 for a bad command line).

Options:
  --id ID                   the status's id (default: a new one, printed on stderr)
  --kind K                  its kind, e.g. backup.nightly
  --parent P                its parent's id (a child of P, SPEC §12)
  --heartbeat-timeout S     the status stalls when no heartbeat came for S seconds; heartbeats every S/3
  --progress REGEX          progress from output lines matching REGEX: its group "percent" or its first
                            group (else the first number of the match) is the percentage, its group
                            "message" (when there is one) the message, e.g. '(\\d+)%' or
                            '(?<percent>\\d+)/100 (?<message>.*)'
  --report-timeout S        after CMD exits, how long to keep trying to report the end (default 10)
  --quiet                   say nothing on stderr about reporting
${COMMON_HELP}
`

/** What `--progress` takes from a line: a percentage, and a message when the pattern names one. */
export function progressOf(
  pattern: RegExp,
  line: string,
): { progress_percentage: number; message?: string } | undefined {
  const match = pattern.exec(line)
  if (!match) return undefined
  const raw = match.groups?.percent ?? match[1] ?? /\d+(?:\.\d+)?/.exec(match[0])?.[0]
  const value = Number(raw)
  if (raw === undefined || !Number.isFinite(value)) return undefined
  const message = match.groups?.message?.trim()
  return {
    progress_percentage: Math.min(100, Math.max(0, value)),
    ...(message && { message: message.slice(0, 1024) }),
  }
}

const signalNumber = (signal: NodeJS.Signals) => constants.signals[signal] ?? 0

export const run: Command = {
  usage,
  async run(argv, io) {
    const { values, positionals, terminated } = parse(argv, {
      id: { type: 'string' },
      kind: { type: 'string' },
      parent: { type: 'string' },
      'heartbeat-timeout': { type: 'string' },
      progress: { type: 'string' },
      'report-timeout': { type: 'string' },
      quiet: { type: 'boolean' },
    })
    if (values.help) {
      io.stdout.write(usage)
      return 0
    }
    if (!terminated || positionals.length === 0) {
      throw new UsageError('give the command after --, e.g. status-tracker run -- ./backup.sh')
    }
    const heartbeatTimeout = positive('heartbeat-timeout', values['heartbeat-timeout'])
    const reportTimeoutS = positive('report-timeout', values['report-timeout']) ?? 10
    let pattern: RegExp | undefined
    try {
      pattern = values.progress === undefined ? undefined : new RegExp(values.progress)
    } catch (err) {
      throw new UsageError(`--progress is not a regular expression: ${(err as Error).message}`)
    }
    const [file, ...args] = positionals as [string, ...string[]]
    const statusId = values.id ?? `run-${randomUUID()}`
    const say = (line: string) => {
      if (!values.quiet) io.stderr.write(`${line}\n`)
    }
    if (values.id === undefined) say(`status-tracker: reporting as status ${statusId}`)

    const client = connect(values, io.env, { retries: 0, timeoutMs: 10_000 })
    let child: ReturnType<typeof spawn> | undefined
    let stopping: NodeJS.Signals | undefined
    const reporter = createReporter({
      client,
      statusId,
      create: {
        ...(values.kind !== undefined && { kind: values.kind }),
        ...(values.parent !== undefined && { parent_id: values.parent }),
        ...(heartbeatTimeout !== undefined && { heartbeat_timeout_s: Math.round(heartbeatTimeout) }),
      },
      ...(heartbeatTimeout !== undefined && { heartbeatMs: Math.max(1_000, (heartbeatTimeout * 1000) / 3) }),
      say,
      onEndedElsewhere(record) {
        if (record.status === 'cancelled' && child && !stopping) child.kill('SIGTERM')
      },
    })

    const last = tail(10)
    const output = (level: 'info' | 'warn') =>
      lineSplitter((text) => {
        last.push(text)
        if (text.trim() === '') return
        reporter.line({ level, message: truncateBytes(text, 2048), at: new Date().toISOString() })
        const progress = pattern && progressOf(pattern, text)
        if (progress) reporter.progress(progress)
      })

    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        child = spawn(file, args, { stdio: ['inherit', 'pipe', 'pipe'] })
        const out = output('info')
        const err = output('warn')
        child.stdout!.on('data', (chunk: Buffer) => {
          io.stdout.write(chunk)
          out.write(chunk)
        })
        child.stderr!.on('data', (chunk: Buffer) => {
          io.stderr.write(chunk)
          err.write(chunk)
        })
        const forward = (signal: NodeJS.Signals) => {
          // A second interrupt kills what the first one did not stop.
          child!.kill(stopping ? 'SIGKILL' : signal)
          stopping ??= signal
        }
        process.on('SIGINT', forward)
        process.on('SIGTERM', forward)
        const settle = (result: { code: number | null; signal: NodeJS.Signals | null; error?: Error }) => {
          process.off('SIGINT', forward)
          process.off('SIGTERM', forward)
          resolve(result)
        }
        child.once('error', (error) => settle({ code: null, signal: null, error }))
        child.once('close', (code, signal) => {
          out.end()
          err.end()
          settle({ code, signal })
        })
      },
    )

    let code: number
    let outcome: Outcome
    if (exit.error) {
      const notFound = (exit.error as NodeJS.ErrnoException).code === 'ENOENT'
      code = notFound ? 127 : 126
      io.stderr.write(`status-tracker: cannot run ${file}: ${exit.error.message}\n`)
      outcome = {
        state: 'failed',
        error_info: { code: `exit-${code}`, message: exit.error.message.slice(0, 1024) },
      }
    } else {
      code = exit.code ?? 128 + signalNumber(exit.signal!)
      if (stopping) outcome = { state: 'cancelled' }
      else if (code === 0) outcome = { state: 'completed' }
      else {
        const lines = last.text(1024)
        outcome = {
          state: 'failed',
          error_info: {
            code: `exit-${code}`,
            message:
              lines.trim() !== '' ? lines : exit.signal ? `killed by ${exit.signal}` : `exited with ${code}`,
          },
        }
      }
    }
    await reporter.finish(outcome, reportTimeoutS * 1000)
    return code
  },
}
