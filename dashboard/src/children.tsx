import { useEffect, useRef, useState } from 'preact/hooks'
import type { DashboardApi, StatusChangeEvent, StatusRecord } from './api'
import { LivenessBadge, ProgressBar, RollupBar, StateBadge } from './components'
import {
  appendChildPage,
  applyChildEvent,
  childListOf,
  explainRefusal,
  TERMINAL,
  type ChildList,
} from './model'

interface ChildrenState {
  parentId: string
  list: ChildList | null
  loading: boolean
  error: string
}

/**
 * The first page of `parent`'s children, kept live by a subscription filtered on `parent_id`. Events
 * that arrive while a page loads are applied again to what it brings, as the page may be older.
 */
function useChildren(api: DashboardApi, parent: StatusRecord) {
  const parentId = parent.status_id
  // A finished status that has no children will never have any (SPEC §12): nothing to follow.
  const follows = parent.children !== null || !TERMINAL.includes(parent.status)
  const [state, setState] = useState<ChildrenState>({ parentId, list: null, loading: false, error: '' })
  const more = useRef<() => void>(() => undefined)

  useEffect(() => {
    if (!follows) return
    let closed = false
    let list: ChildList | null = null
    let attempt = 0
    // Events seen since the page now loading was asked for; null while none is.
    let seen: StatusChangeEvent[] | null = null
    const show = (patch: Partial<ChildrenState>) => {
      if (!closed) setState((old) => ({ ...old, parentId, list, ...patch }))
    }

    async function load(cursor?: string) {
      const mine = ++attempt
      seen = []
      show({ loading: true })
      try {
        const page = await api.children(parentId, cursor)
        if (closed || mine !== attempt) return
        const base = cursor && list ? appendChildPage(list, page) : childListOf(page)
        list = seen.reduce((next, event) => applyChildEvent(next, parentId, event), base)
        seen = null
        show({ loading: false, error: '' })
      } catch (err) {
        if (closed || mine !== attempt) return
        seen = null
        show({ loading: false, error: explainRefusal(err) })
      }
    }

    const watch = api.watch(
      { parent_id: parentId },
      {
        event(event) {
          seen?.push(event)
          if (!list) return
          list = applyChildEvent(list, parentId, event)
          show({})
        },
        // The first subscription, or events missed for good: read the first page again.
        reset: () => void load(),
        connection: () => undefined,
      },
    )
    more.current = () => {
      if (list?.cursor && seen === null) void load(list.cursor)
    }
    setState({ parentId, list: null, loading: true, error: '' })
    void load()
    return () => {
      closed = true
      more.current = () => undefined
      watch.close()
    }
  }, [api, parentId, follows])

  const current = state.parentId === parentId ? state : { ...state, list: null, error: '' }
  return { ...current, loadMore: () => more.current() }
}

interface Props {
  api: DashboardApi
  record: StatusRecord
  onOpen: (record: StatusRecord) => void
}

/** A parent's roll-up and its children, each of which opens in the drawer. */
export function ChildrenSection({ api, record, onOpen }: Props) {
  const { list, loading, error, loadMore } = useChildren(api, record)
  const total = record.children?.total ?? 0
  if (total === 0 && !list?.items.length) return null
  const shown = list?.items.length ?? 0
  return (
    <section aria-labelledby="drawer-children" data-testid="children">
      <h3 id="drawer-children">Children</h3>
      <RollupBar record={record} large />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="children" aria-busy={loading}>
        {list?.items.map((child) => (
          <li key={child.status_id} data-child={child.status_id} data-state={child.status}>
            <button type="button" class="link" onClick={() => onOpen(child)}>
              {child.status_id}
            </button>
            <span class="child-state">
              <StateBadge status={child.status} /> <LivenessBadge record={child} />
            </span>
            <ProgressBar record={child} />
            <RollupBar record={child} />
          </li>
        ))}
      </ul>
      <p class="children-count" data-testid="children-count">
        {loading && shown === 0 ? 'Loading children…' : `Showing ${shown} of ${Math.max(total, shown)}`}
      </p>
      {list?.hasMore && (
        <button type="button" class="secondary" disabled={loading} onClick={loadMore}>
          Load more children
        </button>
      )}
    </section>
  )
}
