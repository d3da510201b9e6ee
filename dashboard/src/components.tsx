import { STATUS_VALUES, type ConnectionState, type Stats, type StatusRecord, type StatusValue } from './api'
import { livenessOf, rollupOf, roundPercent, stateLabel } from './model'

export function StateBadge({ status }: { status: StatusValue }) {
  return <span class={`badge state-${status}`}>{stateLabel(status)}</span>
}

const LIVENESS_TEXT = {
  stalled: ['Stalled', 'No heartbeat within its timeout'],
  overdue: ['Overdue', 'Past its deadline or its start-by time'],
} as const

/** Stalled or overdue (SPEC §11), judged now; nothing for a status that is neither. */
export function LivenessBadge({ record }: { record: StatusRecord }) {
  const liveness = livenessOf(record, Date.now())
  if (!liveness) return null
  const [label, title] = LIVENESS_TEXT[liveness]
  return (
    <span class={`badge liveness-${liveness}`} data-liveness={liveness} title={title}>
      {label}
    </span>
  )
}

export function ProgressBar({ record }: { record: StatusRecord }) {
  const value = roundPercent(record.progress_percentage)
  const steps =
    record.steps_total !== null ? `, step ${record.steps_completed ?? 0} of ${record.steps_total}` : ''
  return (
    <div class="progress">
      <div
        class={`bar state-${record.status}`}
        role="progressbar"
        aria-label={`Progress of ${record.status_id}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={value}
        aria-valuetext={`${value}%${steps}`}
      >
        <div class="fill" style={{ width: `${value}%` }} />
      </div>
      <span class="percent">{value}%</span>
    </div>
  )
}

/**
 * A parent's roll-up (SPEC §12): its children's states as one bar, each segment as wide as its count,
 * and their weighted progress; nothing for a status without children.
 */
export function RollupBar({ record, large = false }: { record: StatusRecord; large?: boolean }) {
  if (!record.children) return null
  const rollup = rollupOf(record.children)
  return (
    <div
      class={large ? 'rollup large' : 'rollup'}
      data-testid="rollup"
      data-total={rollup.total}
      data-done={rollup.done}
      data-progress={rollup.progress}
      title={rollup.description}
    >
      <div
        class="segments"
        role="img"
        aria-label={`Children of ${record.status_id} by state: ${rollup.counts}`}
      >
        {rollup.segments.map(({ status, count }) => (
          <span
            key={status}
            class={`segment state-${status}`}
            data-status={status}
            data-count={count}
            style={{ flexGrow: count }}
          />
        ))}
      </div>
      <span class="summary">{rollup.text}</span>
    </div>
  )
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  offline: 'Offline, retrying',
  refused: 'Live updates refused',
}

export function LiveIndicator({ state }: { state: ConnectionState }) {
  return (
    <p class={`live live-${state}`} role="status" data-state={state}>
      <span class="dot" aria-hidden="true" />
      {CONNECTION_TEXT[state]}
    </p>
  )
}

export function StatsBar({ stats }: { stats: Stats | null }) {
  return (
    <section class="stats" aria-labelledby="stats-title">
      <h2 id="stats-title" class="visually-hidden">
        Counts by state
      </h2>
      <dl>
        <div class="stat">
          <dt>all</dt>
          <dd data-count="total">{stats?.total ?? '…'}</dd>
        </div>
        {STATUS_VALUES.map((status) => (
          <div class={`stat state-${status}`} key={status}>
            <dt>{stateLabel(status)}</dt>
            <dd data-count={status}>{stats?.by_status[status] ?? '…'}</dd>
          </div>
        ))}
      </dl>
    </section>
  )
}
