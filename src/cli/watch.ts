import cliProgress from 'cli-progress'
import type { StatusEvent, StatusRecord, SubscribeRequest } from '../client'
import {
  COMMON_HELP,
  connect,
  EXIT,
  filterOf,
  parse,
  positive,
  reportFailure,
  UsageError,
  type Command,
  type Io,
} from './args'
import { eta, eventLine, isTerminal, percent } from './format'

const usage = `Usage: status-tracker watch ID… [options]
       status-tracker watch --filter NAME=VALUE… [options]

Follows statuses live: a progress bar per status (state, progress, message and the service's ETA) on
a terminal, a line per change otherwise, or with --json one JSON object per line: the statuses as they
stand first ({"type":"status.snapshot","status":…}), then every event as the feed carries it (log lines
included). It resumes after a dropped connection with no event missed or repeated.

Options:
  --filter NAME=VALUE     instead of IDs: status (comma-separated), priority, kind, parent_id,
                          stalled=true or overdue=true; repeatable (the first 500 statuses it matches,
                          then every status that an event shows matching)
  --until terminal        exit once every watched status is terminal: 0 when all completed, 1 when one
                          failed, was cancelled or was deleted
  --json                  one JSON object per line
  --connect-timeout S     exit 4 when the first subscription is not answered within S s (default 30)
${COMMON_HELP}

Exit codes: 0 all completed (--until terminal), 1 one failed, was cancelled or was deleted, 2 bad
command line, 3 refused (an unknown status, a bad token or filter), 4 unreachable, 130 interrupted.
`

const FILTER_NAMES = ['status', 'priority', 'kind', 'parent_id', 'stalled', 'overdue'] as const

/** What `--filter` pairs select, as the subscription's filter. */
function subscriptionFilter(pairs: string[] | undefined): NonNullable<SubscribeRequest['filter']> {
  const raw = filterOf(pairs, FILTER_NAMES)
  const list = (value: string) => value.split(',').filter(Boolean)
  const flag = (name: string, value: string): true => {
    if (value !== 'true') throw new UsageError(`--filter ${name} takes only "true", got "${value}"`)
    return true
  }
  return {
    ...(raw.status !== undefined && { status: list(raw.status) as never }),
    ...(raw.priority !== undefined && { priority: list(raw.priority) as never }),
    ...(raw.kind !== undefined && { kind: raw.kind }),
    ...(raw.parent_id !== undefined && { parent_id: raw.parent_id }),
    ...(raw.stalled !== undefined && { stalled: flag('stalled', raw.stalled) }),
    ...(raw.overdue !== undefined && { overdue: flag('overdue', raw.overdue) }),
  }
}

/** Where the statuses are shown: bars on a terminal, lines elsewhere, JSON with --json. */
interface View {
  snapshot(records: StatusRecord[], reason?: string): void
  event(event: StatusEvent): void
  note(text: string): void
  stop(): void
}

function barsView(io: Io): View {
  const bars = new cliProgress.MultiBar(
    {
      format: '{id}  {bar}  {percentage}%  {state}  ETA {left}  {message}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 24,
      stream: io.stdout,
      forceRedraw: true,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  )
  const shown = new Map<string, cliProgress.SingleBar>()
  let width = 0
  const payload = (record: StatusRecord) => ({
    id: record.status_id.padEnd(width),
    state: record.status.padEnd(13),
    left: eta(record).padEnd(6),
    message: record.message ?? '',
  })
  const show = (record: StatusRecord) => {
    const bar = shown.get(record.status_id)
    if (bar) return bar.update(record.progress_percentage, payload(record))
    width = Math.max(width, record.status_id.length)
    shown.set(record.status_id, bars.create(100, record.progress_percentage, payload(record)))
  }
  return {
    snapshot: (records) => records.forEach(show),
    event: (event) => event.type !== 'status.log' && show(event.status),
    note: (text) => bars.log(`${text}\n`),
    stop: () => bars.stop(),
  }
}

function linesView(io: Io): View {
  return {
    snapshot: (records) =>
      records.forEach((r) =>
        io.stdout.write(
          `${r.updated_at}  ${r.status_id}  ${r.status}  ${percent(r)}${r.message ? `  ${r.message}` : ''}\n`,
        ),
      ),
    event: (event) => io.stdout.write(eventLine(event)),
    note: (text) => io.stderr.write(`${text}\n`),
    stop: () => undefined,
  }
}

function jsonView(io: Io): View {
  return {
    snapshot: (records, reason) =>
      records.forEach((status) =>
        io.stdout.write(
          `${JSON.stringify({ type: 'status.snapshot', status, ...(reason && { reason }) })}\n`,
        ),
      ),
    event: (event) => io.stdout.write(`${JSON.stringify(event)}\n`),
    note: (text) => io.stderr.write(`${text}\n`),
    stop: () => undefined,
  }
}

export const watch: Command = {
  usage,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      filter: { type: 'string', multiple: true },
      until: { type: 'string' },
      json: { type: 'boolean' },
      'connect-timeout': { type: 'string' },
    })
    if (values.help) {
      io.stdout.write(usage)
      return EXIT.ok
    }
    if (values.until !== undefined && values.until !== 'terminal') {
      throw new UsageError(`--until takes only "terminal", got "${values.until}"`)
    }
    if (positionals.length > 0 === (values.filter !== undefined)) {
      throw new UsageError('give status ids or --filter, not both and not neither')
    }
    const connectTimeoutMs = (positive('connect-timeout', values['connect-timeout']) ?? 30) * 1000
    const request: SubscribeRequest =
      positionals.length > 0
        ? { status_ids: [...new Set(positionals)] }
        : { filter: subscriptionFilter(values.filter), snapshot_limit: 500 }
    const client = connect(values, io.env)
    const view = values.json ? jsonView(io) : io.stdout.isTTY ? barsView(io) : linesView(io)
    const known = new Map<string, StatusRecord>()
    const gone = new Set<string>()
    const until = values.until === 'terminal'
    /** With --until terminal: 0 or 1 once every watched status is terminal, else undefined. */
    const verdict = (): number | undefined => {
      if (!until || known.size + gone.size === 0) return undefined
      if ([...known.values()].some((record) => !isTerminal(record))) return undefined
      const allCompleted =
        gone.size === 0 && [...known.values()].every((record) => record.status === 'completed')
      return allCompleted ? EXIT.ok : EXIT.unsuccessful
    }
    const take = (record: StatusRecord) => known.set(record.status_id, record)

    const subscription = client.watch(request)
    let interrupted = false
    let closing = false
    const interrupt = () => {
      interrupted = closing = true
      void subscription.close()
    }
    process.once('SIGINT', interrupt)
    process.once('SIGTERM', interrupt)
    let dropped = false
    subscription.socket.on('disconnect', () => {
      if (!dropped && !closing) view.note('status-tracker: connection lost; resuming…')
      dropped = true
    })
    subscription.socket.on('connect', () => (dropped = false))
    const timer = setTimeout(() => {
      view.note(`status-tracker: the service did not answer within ${connectTimeoutMs / 1000} s`)
      closing = true
      void subscription.close()
    }, connectTimeoutMs)
    let answered = false
    /** Leaving the loop closes the subscription (before `finally`): no "connection lost" then. */
    const finish = (code: number) => {
      closing = true
      view.stop()
      return code
    }
    try {
      for await (const message of subscription) {
        if (!answered) {
          answered = true
          clearTimeout(timer)
        }
        if (message.type === 'event') {
          const { event } = message
          if (event.type === 'status.deleted') {
            known.delete(event.status_id)
            gone.add(event.status_id)
          } else if (event.type !== 'status.log') take(event.status)
          view.event(event)
        } else {
          message.statuses.forEach(take)
          view.snapshot(message.statuses, message.type === 'resync' ? message.reason : undefined)
          const missing = (request.status_ids ?? []).filter((id) => !known.has(id) && !gone.has(id))
          if (message.type === 'snapshot' && missing.length > 0) {
            io.stderr.write(`status-tracker: no such status: ${missing.join(', ')}\n`)
            return finish(EXIT.refused)
          }
        }
        const code = verdict()
        if (code !== undefined) return finish(code)
      }
      return finish(interrupted ? 130 : answered ? EXIT.ok : EXIT.unreachable)
    } catch (err) {
      return finish(reportFailure(err, io))
    } finally {
      closing = true
      clearTimeout(timer)
      process.off('SIGINT', interrupt)
      process.off('SIGTERM', interrupt)
      await subscription.close()
    }
  },
}
