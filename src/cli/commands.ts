import type { ListQuery, LogLine, StatusTrackerClient } from '../client'
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
  type Flags,
  type Io,
  type Parsed,
} from './args'
import { describe, isTerminal, logLine, percent, table } from './format'

/** A command that makes calls: a refusal is exit 3, an unreachable service exit 4. */
const JSON_FLAG = { json: { type: 'boolean' } } as const

function calling<const F extends Flags>(
  usage: string,
  flags: F,
  body: (parsed: Parsed<F & typeof JSON_FLAG>, client: StatusTrackerClient, io: Io) => Promise<number>,
): Command {
  return {
    usage,
    async run(argv, io) {
      const parsed = parse(argv, { ...JSON_FLAG, ...flags })
      if (parsed.values.help) {
        io.stdout.write(usage)
        return EXIT.ok
      }
      const client = connect(parsed.values, io.env)
      try {
        return await body(parsed, client, io)
      } catch (err) {
        return reportFailure(err, io)
      } finally {
        await client.close()
      }
    },
  }
}

/** The one id a command takes. */
function oneId(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError(`give one status id, got ${positionals.length}`)
  return positionals[0]!
}

const jsonLine = (value: unknown) => `${JSON.stringify(value)}\n`

export const get = calling(
  `Usage: status-tracker get ID [--json]

Shows one status: its state, progress, message, children, error and times; --json prints the record.
Exit codes: 0, 2 bad command line, 3 refused (no such status), 4 unreachable.
${COMMON_HELP}
`,
  {},
  async ({ values, positionals }, client, io) => {
    const record = await client.statuses.get(oneId(positionals))
    io.stdout.write(values.json ? jsonLine(record) : describe(record))
    return EXIT.ok
  },
)

const LIST_FILTERS = [
  'status',
  'priority',
  'kind',
  'resource_id',
  'tag',
  'parent_id',
  'stalled',
  'overdue',
  'created_after',
  'created_before',
  'updated_after',
  'updated_before',
] as const

export const list = calling(
  `Usage: status-tracker list [--filter NAME=VALUE…] [--sort FIELD] [--limit N] [--all] [--json]

Lists statuses, newest change first: a table, or with --json one record per line.
  --filter NAME=VALUE   ${LIST_FILTERS.join(', ')} (lists comma-separated, as the API takes them);
                        repeatable
  --sort FIELD          e.g. created_at, -progress_percentage (default -updated_at)
  --limit N             at most N statuses (default 50)
  --all                 every matching status, page after page
Exit codes: 0, 2 bad command line, 3 refused (a bad filter), 4 unreachable.
${COMMON_HELP}
`,
  {
    filter: { type: 'string', multiple: true },
    sort: { type: 'string' },
    limit: { type: 'string' },
    all: { type: 'boolean' },
  },
  async ({ values, positionals }, client, io) => {
    if (positionals.length > 0)
      throw new UsageError(`list takes no arguments, got "${positionals.join(' ')}"`)
    const limit = positive('limit', values.limit)
    const query = {
      ...filterOf(values.filter, LIST_FILTERS),
      ...(values.sort !== undefined && { sort: values.sort }),
    } as ListQuery
    const rows = []
    if (values.all) {
      for await (const record of client.statuses.listAll({ ...query, limit: limit ?? 100 })) {
        if (values.json) io.stdout.write(jsonLine(record))
        else rows.push(record)
      }
    } else {
      const page = await client.statuses.list({ ...query, limit: limit ?? 50 })
      if (values.json) page.items.forEach((record) => io.stdout.write(jsonLine(record)))
      else rows.push(...page.items)
      if (page.has_more && !values.json)
        io.stderr.write('status-tracker: more statuses match (--all lists every one)\n')
    }
    if (!values.json) {
      io.stdout.write(
        table(
          ['ID', 'STATUS', 'PROGRESS', 'UPDATED', 'MESSAGE'],
          rows.map((r) => [r.status_id, r.status, percent(r), r.updated_at, r.message ?? '']),
        ),
      )
    }
    return EXIT.ok
  },
)

export const cancel = calling(
  `Usage: status-tracker cancel ID [--json]

Cancels a status that is not yet terminal (and its live descendants). Exit codes: 0, 2 bad command
line, 3 refused (no such status, or already terminal: invalid-transition), 4 unreachable.
${COMMON_HELP}
`,
  {},
  async ({ values, positionals }, client, io) => {
    const record = await client.statuses.cancel(oneId(positionals))
    io.stdout.write(values.json ? jsonLine(record) : `${record.status_id} ${record.status}\n`)
    return EXIT.ok
  },
)

/** Two lines are the same line of a log. */
const sameLine = (a: LogLine, b: LogLine) =>
  a.at === b.at &&
  a.level === b.level &&
  a.message === b.message &&
  JSON.stringify(a.fields) === JSON.stringify(b.fields)

export const logs = calling(
  `Usage: status-tracker logs ID [--follow] [--json]

Prints the status's kept log lines (its newest 1,000), oldest first: time, level, message; with --json
one line object per line. --follow then prints new lines as they come, until the status is terminal.
Exit codes: 0, 2 bad command line, 3 refused (no such status), 4 unreachable.
${COMMON_HELP}
`,
  { follow: { type: 'boolean' } },
  async ({ values, positionals }, client, io) => {
    const id = oneId(positionals)
    const print = (line: LogLine) => io.stdout.write(values.json ? jsonLine(line) : logLine(line))
    if (!values.follow) {
      for await (const line of client.logs.listAll(id, { limit: 1000 })) print(line)
      return EXIT.ok
    }
    // Subscribe first, then read the kept lines: nothing appended meanwhile is missed. The events after
    // the subscription's start that were appended before the read are already among the lines read:
    // an append's lines are stored together, so they are the read's last lines, event by event.
    const subscription = client.watch({ status_ids: [id] })
    try {
      const first = await subscription.next()
      if (first.done || first.value.type === 'event')
        throw new Error('the subscription did not start with a snapshot')
      const [record] = first.value.statuses
      if (!record) {
        io.stderr.write(`status-tracker: no such status: ${id}\n`)
        return EXIT.refused
      }
      const read: LogLine[] = []
      for await (const line of client.logs.listAll(id, { limit: 1000 })) {
        read.push(line)
        print(line)
      }
      if (isTerminal(record)) return EXIT.ok
      // Where the next live event's lines would start in `read` if they were read already: unknown
      // before the first live event, a position while the live events repeat the read's last lines,
      // 'past' once they no longer do.
      let next: 'unknown' | number | 'past' = 'unknown'
      for await (const message of subscription) {
        if (message.type !== 'event') continue
        const { event } = message
        if (event.type === 'status.log') {
          const { lines } = event
          const at: number | 'past' = next === 'unknown' ? lastIndexOf(read, lines) : next
          if (
            typeof at === 'number' &&
            at >= 0 &&
            lines.every((line, i) => at + i < read.length && sameLine(read[at + i]!, line))
          ) {
            next = at + lines.length < read.length ? at + lines.length : 'past'
            continue
          }
          next = 'past'
          lines.forEach(print)
        } else if (event.type === 'status.deleted' || isTerminal(event.status)) return EXIT.ok
      }
      return EXIT.ok
    } finally {
      await subscription.close()
    }
  },
)

/** Where `lines` last occur in `read` as a run, or -1. */
function lastIndexOf(read: LogLine[], lines: LogLine[]): number {
  for (let at = read.length - lines.length; at >= 0; at -= 1) {
    if (lines.every((line, i) => sameLine(read[at + i]!, line))) return at
  }
  return -1
}
