import type { StatusRecord } from './api'
import { LivenessBadge, ProgressBar, RollupBar, StateBadge } from './components'
import { formatTime } from './model'

const COLUMNS: [label: string, sortKey?: string][] = [
  ['ID', 'status_id'],
  ['Kind'],
  ['State'],
  ['Priority', 'priority'],
  ['Progress', 'progress_percentage'],
  ['Message'],
  ['Updated', 'updated_at'],
]

interface Props {
  rows: StatusRecord[] | null
  sort: string
  onOpen: (record: StatusRecord) => void
}

export function StatusTable({ rows, sort, onOpen }: Props) {
  const sortKey = sort.replace(/^-/, '')
  const direction = sort.startsWith('-') ? 'descending' : 'ascending'
  return (
    <div class="table-wrap">
      <table class="statuses" aria-busy={rows === null}>
        <caption class="visually-hidden">Statuses; choose an ID to see its details and history</caption>
        <thead>
          <tr>
            {COLUMNS.map(([label, key]) => (
              <th scope="col" key={label} aria-sort={key && key === sortKey ? direction : undefined}>
                {label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows?.length === 0 && (
            <tr>
              <td colSpan={COLUMNS.length} class="empty">
                No statuses match these filters.
              </td>
            </tr>
          )}
          {rows?.map((row) => (
            <tr
              key={row.status_id}
              data-row={row.status_id}
              data-state={row.status}
              onClick={() => onOpen(row)}
            >
              <td>
                <button
                  type="button"
                  class="link"
                  data-status-id={row.status_id}
                  onClick={(e) => {
                    e.stopPropagation()
                    onOpen(row)
                  }}
                >
                  {row.status_id}
                </button>
              </td>
              <td>{row.kind ?? '—'}</td>
              <td>
                <StateBadge status={row.status} /> <LivenessBadge record={row} />
              </td>
              <td class={`priority-${row.priority}`}>{row.priority}</td>
              <td>
                <ProgressBar record={row} />
                <RollupBar record={row} />
              </td>
              <td class="message">{row.message ?? ''}</td>
              <td>
                <time dateTime={row.updated_at}>{formatTime(row.updated_at)}</time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
