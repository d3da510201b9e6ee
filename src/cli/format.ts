import type { LogLine, StatusEvent, StatusRecord } from '../client'

export const TERMINAL: readonly string[] = ['completed', 'failed', 'cancelled']
export const isTerminal = (record: Pick<StatusRecord, 'status'>) => TERMINAL.includes(record.status)

/** `1h02m`, `3m20s`, `45s`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

/** How long until the server's estimate of completion, or `-`. */
export function eta(record: StatusRecord, now = Date.now()): string {
  if (isTerminal(record) || !record.estimated_completion_at) return '-'
  return duration(Date.parse(record.estimated_completion_at) - now)
}

export const percent = (record: StatusRecord) => `${Math.round(record.progress_percentage)}%`

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

/** One record as `name: value` lines, for `get`. */
export function describe(record: StatusRecord): string {
  const fields: [string, string | number | null | undefined][] = [
    ['id', record.status_id],
    ['status', record.status],
    ['progress', percent(record)],
    ['message', record.message],
    ['kind', record.kind],
    ['resource', record.resource_id],
    ['parent', record.parent_id],
    [
      'children',
      record.children
        ? `${record.children.total} (${Object.entries(record.children.by_status)
            .map(([state, n]) => `${state} ${n}`)
            .join(', ')}), ${Math.round(record.children.progress_percentage)}%`
        : undefined,
    ],
    [
      'error',
      record.error_info ? `${record.error_info.code ?? ''} ${record.error_info.message}`.trim() : undefined,
    ],
    ['retries', `${record.retry_count} of ${record.max_retries}`],
    ['tags', record.tags.length > 0 ? record.tags.join(', ') : undefined],
    ['version', record.version],
    ['created', record.created_at],
    ['updated', record.updated_at],
    ['started', record.started_at],
    ['completed', record.completed_at],
    ['eta', eta(record) === '-' ? undefined : eta(record)],
    ['heartbeat', record.last_heartbeat_at],
  ]
  const shown = fields.filter(([, value]) => value !== undefined && value !== null && value !== '')
  const width = Math.max(...shown.map(([name]) => name.length)) + 1
  // A value of several lines (an error's last output lines) continues indented under the first.
  const indent = '\n' + ' '.repeat(width + 1)
  return (
    shown
      .map(([name, value]) => `${`${name}:`.padEnd(width)} ${String(value).split('\n').join(indent)}`)
      .join('\n') + '\n'
  )
}

export const logLine = (line: LogLine) => `${line.at}  ${line.level.padEnd(5)}  ${line.message}\n`

/** A change as one line for a log file: `time id state progress message`. */
export function eventLine(event: StatusEvent): string {
  if (event.type === 'status.log') {
    return event.lines
      .map((line) => `${line.at}  ${event.status_id}  log ${line.level}  ${line.message}\n`)
      .join('')
  }
  const record = event.status
  return `${event.occurred_at}  ${record.status_id}  ${record.status}  ${percent(record)}${record.message ? `  ${record.message}` : ''}\n`
}
