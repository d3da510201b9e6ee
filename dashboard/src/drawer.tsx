import { useEffect, useRef } from 'preact/hooks'
import type { DashboardApi, LogLine, StatusChangeEvent as StatusEvent, StatusRecord } from './api'
import { ChildrenSection } from './children'
import { LivenessBadge, ProgressBar, StateBadge } from './components'
import { describeChanges, formatTime, TERMINAL } from './model'

export interface DrawerState {
  record: StatusRecord
  history: StatusEvent[]
  cursor?: string
  hasMore: boolean
  loading: boolean
  deleted: boolean
  error?: string
  /** The status's log, oldest first: what was kept when it opened, then what is appended live. */
  log: LogLine[]
}

interface Props {
  api: DashboardApi
  state: DrawerState
  onClose: () => void
  onLoadMore: () => void
  /** Shows another status (a child) in the drawer instead. */
  onOpen: (record: StatusRecord) => void
  /** Shows the status with this ID (a parent) in the drawer instead. */
  onOpenId: (id: string) => void
}

/** A modal dialog: focus moves into it, stays in it, and Escape closes it (the browser does that). */
export function StatusDrawer({ api, state, onClose, onLoadMore, onOpen, onOpenId }: Props) {
  const dialog = useRef<HTMLDialogElement>(null)
  const title = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    const element = dialog.current
    if (element && !element.open) element.showModal()
  }, [])
  // Another status opened from the drawer: the button that opened it is gone, so focus goes to its title.
  const shownId = useRef(state.record.status_id)
  useEffect(() => {
    if (shownId.current === state.record.status_id) return
    shownId.current = state.record.status_id
    dialog.current?.scrollTo({ top: 0 })
    title.current?.focus()
  }, [state.record.status_id])

  const { record, history } = state
  const parentId = record.parent_id
  const retrying = record.status === 'retry_pending'
  return (
    <dialog ref={dialog} class="drawer" aria-labelledby="drawer-title" onClose={onClose}>
      <header>
        <h2 id="drawer-title" ref={title} tabIndex={-1}>
          {record.status_id}
        </h2>
        <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </header>
      {state.deleted && (
        <p class="notice" role="status">
          This status was deleted.
        </p>
      )}
      <p class="badges">
        <StateBadge status={record.status} /> <LivenessBadge record={record} />{' '}
        <span class={`priority-${record.priority}`}>{record.priority}</span>
      </p>
      <ProgressBar record={record} />
      <dl class="fields">
        {parentId && (
          <>
            <dt>Parent</dt>
            <dd data-field="parent">
              <button type="button" class="link" onClick={() => onOpenId(parentId)}>
                {parentId}
              </button>
              {record.weight !== 1 && ` · weight ${record.weight}`}
            </dd>
          </>
        )}
        <dt>Kind</dt>
        <dd>{record.kind ?? '—'}</dd>
        <dt>Resource</dt>
        <dd>{record.resource_id ?? '—'}</dd>
        <dt>Message</dt>
        <dd>{record.message ?? '—'}</dd>
        <dt>Tags</dt>
        <dd>{record.tags.length ? record.tags.join(', ') : '—'}</dd>
        <dt>Created</dt>
        <dd>{formatTime(record.created_at)}</dd>
        <dt>Started</dt>
        <dd>{formatTime(record.started_at)}</dd>
        <dt>Updated</dt>
        <dd>{formatTime(record.updated_at)}</dd>
        <dt>{TERMINAL.includes(record.status) ? 'Finished' : 'Expected to finish'}</dt>
        <dd>{formatTime(record.completed_at ?? record.estimated_completion_at)}</dd>
        <dt>Deadline</dt>
        <dd data-field="deadline_at">{formatTime(record.deadline_at)}</dd>
        {record.start_by && (
          <>
            <dt>Start by</dt>
            <dd data-field="start_by">{formatTime(record.start_by)}</dd>
          </>
        )}
        <dt>Heartbeat</dt>
        <dd data-field="heartbeat">
          {record.heartbeat_timeout_s === null
            ? 'not watched'
            : `every ${record.heartbeat_timeout_s} s at most; last ${formatTime(record.last_heartbeat_at)}`}
        </dd>
        {(record.children || record.on_child_failure === 'fail' || record.complete_with_children) && (
          <>
            <dt>With its children</dt>
            <dd data-field="group-rules">{groupRules(record)}</dd>
          </>
        )}
        <dt>Version</dt>
        <dd>{record.version}</dd>
      </dl>

      <ChildrenSection api={api} record={record} onOpen={onOpen} />

      <section aria-labelledby="drawer-error">
        <h3 id="drawer-error">Errors and retries</h3>
        <p>
          Retries used: {record.retry_count} of {record.max_retries}
          {retrying && ' · waiting to retry'}
        </p>
        {record.error_info ? (
          <div class="error-info" data-testid="error-info">
            <p>
              <strong>Last error:</strong> {record.error_info.message}
              {record.error_info.code && (
                <>
                  {' '}
                  (<code>{record.error_info.code}</code>)
                </>
              )}
            </p>
            {record.error_info.details && <pre>{JSON.stringify(record.error_info.details, null, 2)}</pre>}
          </div>
        ) : (
          <p>No error recorded.</p>
        )}
      </section>

      {Object.keys(record.metadata).length > 0 && (
        <section aria-labelledby="drawer-metadata">
          <h3 id="drawer-metadata">Metadata</h3>
          <pre>{JSON.stringify(record.metadata, null, 2)}</pre>
        </section>
      )}

      <section aria-labelledby="drawer-log">
        <h3 id="drawer-log">Log</h3>
        {state.log.length === 0 ? (
          <p>No log lines.</p>
        ) : (
          <ol class="log" data-testid="log" aria-live="polite">
            {state.log.map((line, i) => (
              <li key={i} class={`log-${line.level}`} data-level={line.level}>
                <time dateTime={line.at}>{formatTime(line.at)}</time> <span class="level">{line.level}</span>{' '}
                <span class="text">{line.message}</span>
                {line.fields && <code class="fields">{JSON.stringify(line.fields)}</code>}
              </li>
            ))}
          </ol>
        )}
      </section>

      <section aria-labelledby="drawer-history">
        <h3 id="drawer-history">History</h3>
        {state.error && (
          <p class="error" role="alert">
            {state.error}
          </p>
        )}
        <ol class="timeline" aria-busy={state.loading}>
          {history.map((event) => (
            <li key={event.event_id} data-event-type={event.type}>
              <p>
                <strong>{event.type.replace('status.', '')}</strong>{' '}
                <time dateTime={event.occurred_at}>{formatTime(event.occurred_at)}</time>{' '}
                <span class="seq">#{event.seq}</span>
              </p>
              <ul>
                {describeChanges(event).map((line) => (
                  <li key={line}>{line}</li>
                ))}
              </ul>
            </li>
          ))}
        </ol>
        {state.loading && <p>Loading history…</p>}
        {state.hasMore && !state.loading && (
          <button type="button" class="secondary" onClick={onLoadMore}>
            Load more history
          </button>
        )}
      </section>
    </dialog>
  )
}

/** SPEC §12's parent policy, in words. */
function groupRules(record: StatusRecord): string {
  const failure =
    record.on_child_failure === 'fail' ? 'fails when a child fails' : 'carries on when a child fails'
  return record.complete_with_children ? `${failure}; finishes when all of them have` : failure
}
