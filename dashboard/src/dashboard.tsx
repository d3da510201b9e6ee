import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import {
  createApi,
  StatusTrackerError,
  type ConnectionState,
  type LiveWatch,
  type LogLine,
  type Stats,
  type StatusChangeEvent as StatusEvent,
  type StatusPage,
  type StatusRecord,
} from './api'
import { LiveIndicator, StatsBar } from './components'
import { StatusDrawer, type DrawerState } from './drawer'
import { FiltersForm } from './filters-form'
import { emptyFilters, explainRefusal, matches, newer, toLiveFilter, toQuery, type Filters } from './model'
import { StatusTable } from './status-table'

/** The drawer's log shows at most as many lines as the service keeps. */
const LOG_SHOWN = 1000

interface Props {
  apiKey: string
  onSignOut: (reason?: string) => void
}

export function Dashboard({ apiKey, onSignOut }: Props) {
  const api = useMemo(() => createApi(apiKey), [apiKey])
  const [filters, setFilters] = useState(emptyFilters)
  // cursors[i] opens page i + 1; the API pages forwards only, so "previous" walks back this stack.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  const [page, setPage] = useState<StatusPage | null>(null)
  const [error, setError] = useState('')
  const [stats, setStats] = useState<Stats | null>(null)
  const [connection, setConnection] = useState<ConnectionState>('connecting')
  const [drawer, setDrawer] = useState<DrawerState | null>(null)
  const [announcement, setAnnouncement] = useState('')

  // The live feed's handlers are registered once and read the current state through these refs.
  const current = useRef({
    filters,
    cursor: undefined as string | undefined,
    page: null as StatusPage | null,
    drawer: null as DrawerState | null,
    loading: false,
    loadAgain: false,
    // Events that arrive while a page is loading: the page may be older than they are.
    seenDuringLoad: null as Map<string, StatusEvent> | null,
  }).current
  const watch = useRef<LiveWatch | null>(null)
  const followed = useRef<{ close(): void } | null>(null)
  // Signing out unmounts the page: the open drawer's log subscription goes with it.
  useEffect(() => () => followed.current?.close(), [])
  const timers = useRef<{ reload?: number; stats?: number }>({}).current
  const opener = useRef<HTMLElement | null>(null)

  const showPage = (next: StatusPage | null) => {
    current.page = next
    setPage(next)
  }
  const showDrawer = (next: DrawerState | null) => {
    current.drawer = next
    setDrawer(next)
  }

  function failed(err: unknown) {
    if (err instanceof StatusTrackerError && err.code === 'unauthenticated') {
      onSignOut('Your API key is no longer accepted. Sign in again.')
    } else setError(explainRefusal(err))
  }

  async function load() {
    if (current.loading) {
      current.loadAgain = true
      return
    }
    current.loading = true
    current.seenDuringLoad = new Map()
    try {
      const result = await api.listStatuses(toQuery(current.filters, current.cursor))
      const seen = current.seenDuringLoad
      const items = result.items
        .map((row) => {
          const event = seen.get(row.status_id)
          return event && event.type !== 'status.deleted' ? newer(row, event.status) : row
        })
        .filter((row) => seen.get(row.status_id)?.type !== 'status.deleted')
      showPage({ ...result, items })
      setError('')
      const where = result.total === undefined ? '' : ` of ${result.total}`
      setAnnouncement(`${items.length}${where} statuses shown`)
    } catch (err) {
      failed(err)
    } finally {
      current.loading = false
      current.seenDuringLoad = null
      if (current.loadAgain) {
        current.loadAgain = false
        void load()
      }
    }
  }

  async function loadStats() {
    try {
      setStats(await api.stats())
    } catch (err) {
      failed(err)
    }
  }

  // Statuses that belong on the page but are not shown yet; a reload is skipped if one already brought them.
  const wanted = useRef(new Set<string>()).current
  function reloadForMissing() {
    const shown = new Set(current.page?.items.map((row) => row.status_id))
    const missing = [...wanted].some((id) => !shown.has(id))
    wanted.clear()
    if (missing) void load()
  }

  const later = (name: 'reload' | 'stats', run: () => void, ms: number) => {
    if (timers[name] !== undefined) return
    timers[name] = window.setTimeout(() => {
      timers[name] = undefined
      run()
    }, ms)
  }

  function onEvent(event: StatusEvent) {
    current.seenDuringLoad?.set(event.status_id, event)
    const shown = current.page
    const index = shown?.items.findIndex((row) => row.status_id === event.status_id) ?? -1
    if (shown && index >= 0) {
      if (event.type === 'status.deleted') {
        showPage({ ...shown, items: shown.items.filter((_, i) => i !== index) })
        // Another status may now fill the page: '' is never shown, so this reload always runs.
        wanted.add('')
        later('reload', reloadForMissing, 250)
      } else if (event.status.version > shown.items[index].version) {
        showPage({ ...shown, items: shown.items.map((row, i) => (i === index ? event.status : row)) })
      }
    } else if (event.type !== 'status.deleted' && matches(event.status, current.filters)) {
      // A status that now belongs on this page: where it goes depends on the sort, so ask the API.
      wanted.add(event.status_id)
      later('reload', reloadForMissing, 250)
    }
    updateDrawer(event)
    later('stats', loadStats, 500)
  }

  /** The open status's event, from the table's feed or the drawer's own (whichever brings it first). */
  function updateDrawer(event: StatusEvent) {
    const open = current.drawer
    if (open?.record.status_id !== event.status_id) return
    const known = open.history.some((item) => item.event_id === event.event_id)
    showDrawer({
      ...open,
      record: event.type === 'status.deleted' ? open.record : newer(open.record, event.status),
      deleted: open.deleted || event.type === 'status.deleted',
      // Only appended when every earlier page of the history is loaded, so the timeline has no hole.
      history: known || open.hasMore ? open.history : [...open.history, event],
    })
  }

  useEffect(() => {
    watch.current = api.watch(toLiveFilter(current.filters), {
      event: onEvent,
      reset: () => {
        void load()
        void loadStats()
      },
      connection: (state, err) => {
        setConnection(state)
        if (state === 'refused' && err?.code === 'unauthenticated') {
          onSignOut('Your API key is no longer accepted. Sign in again.')
        }
      },
    })
    void load()
    void loadStats()
    return () => {
      watch.current?.close()
      window.clearTimeout(timers.reload)
      window.clearTimeout(timers.stats)
    }
  }, [api])

  function applyFilters(next: Filters) {
    current.filters = next
    current.cursor = undefined
    setFilters(next)
    setCursors([undefined])
    watch.current?.setFilter(toLiveFilter(next))
    void load()
  }

  function goTo(stack: (string | undefined)[]) {
    current.cursor = stack.at(-1)
    setCursors(stack)
    void load()
  }

  /**
   * Follows the open status: its changes, and its log (live lines first, so none is missed while the
   * kept ones load).
   */
  function follow(id: string) {
    followed.current?.close()
    let live: LogLine[] | null = []
    followed.current = api.follow(id, {
      lines(lines) {
        const open = current.drawer
        if (open?.record.status_id !== id) return
        if (live) live.push(...lines)
        else showDrawer({ ...open, log: [...open.log, ...lines].slice(-LOG_SHOWN) })
      },
      event: updateDrawer,
      record(record) {
        const open = current.drawer
        if (open?.record.status_id === id) showDrawer({ ...open, record: newer(open.record, record) })
      },
    })
    void api.logs(id).then(
      (kept) => {
        const open = current.drawer
        const arrived = live ?? []
        live = null
        if (open?.record.status_id !== id) return
        // Lines appended while the kept ones loaded may be in both: the live ones already at the end go.
        const key = (line: LogLine) => `${line.at}\u0000${line.level}\u0000${line.message}`
        const tail = new Set(kept.slice(-arrived.length).map(key))
        const fresh = arrived.filter((line) => !tail.has(key(line)))
        showDrawer({ ...open, log: [...kept, ...fresh].slice(-LOG_SHOWN) })
      },
      () => (live = null),
    )
  }

  async function openDrawer(record: StatusRecord) {
    // A child or parent opened from the drawer replaces what it shows; Escape still returns to the table.
    if (!current.drawer) opener.current = document.activeElement as HTMLElement | null
    showDrawer({ record, history: [], hasMore: false, loading: true, deleted: false, log: [] })
    follow(record.status_id)
    try {
      const history = await api.history(record.status_id)
      const open = current.drawer
      if (open?.record.status_id !== record.status_id) return
      const live = open.history.filter((e) => !history.items.some((h) => h.event_id === e.event_id))
      showDrawer({
        ...open,
        history: [...history.items, ...(history.has_more ? [] : live)],
        cursor: history.next_cursor ?? undefined,
        hasMore: history.has_more,
        loading: false,
      })
    } catch (err) {
      const open = current.drawer
      if (open) showDrawer({ ...open, loading: false, error: explainRefusal(err) })
    }
  }

  /** Opens a status known by its ID alone (a child's parent). */
  async function openById(id: string) {
    try {
      await openDrawer(await api.status(id))
    } catch (err) {
      const open = current.drawer
      if (open) showDrawer({ ...open, error: explainRefusal(err) })
    }
  }

  async function loadMoreHistory() {
    const open = current.drawer
    if (!open?.cursor) return
    showDrawer({ ...open, loading: true })
    try {
      const more = await api.history(open.record.status_id, open.cursor)
      const now = current.drawer
      if (now?.record.status_id !== open.record.status_id) return
      showDrawer({
        ...now,
        history: [...now.history, ...more.items],
        cursor: more.next_cursor ?? undefined,
        hasMore: more.has_more,
        loading: false,
      })
    } catch (err) {
      const now = current.drawer
      if (now) showDrawer({ ...now, loading: false, error: explainRefusal(err) })
    }
  }

  function closeDrawer() {
    followed.current?.close()
    followed.current = null
    showDrawer(null)
    // The row may have been re-rendered meanwhile: fall back to its button by id.
    const back = opener.current?.isConnected
      ? opener.current
      : (document.querySelector(
          `[data-status-id="${CSS.escape(drawer?.record.status_id ?? '')}"]`,
        ) as HTMLElement | null)
    back?.focus()
  }

  const pageNumber = cursors.length
  return (
    <>
      <header class="top">
        <h1>Status Tracker</h1>
        <LiveIndicator state={connection} />
        <button type="button" class="secondary" onClick={() => onSignOut()}>
          Sign out
        </button>
      </header>
      <main>
        <StatsBar stats={stats} />
        <FiltersForm filters={filters} onApply={applyFilters} />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <StatusTable rows={page?.items ?? null} sort={filters.sort} onOpen={openDrawer} />
        <nav class="pager" aria-label="Pages">
          <button type="button" disabled={pageNumber === 1} onClick={() => goTo(cursors.slice(0, -1))}>
            Previous
          </button>
          <span>
            Page {pageNumber}
            {page?.total !== undefined && ` · ${page.total} matching`}
          </span>
          <button
            type="button"
            disabled={!page?.has_more || !page.next_cursor}
            onClick={() => goTo([...cursors, page?.next_cursor ?? undefined])}
          >
            Next
          </button>
        </nav>
        <p class="visually-hidden" aria-live="polite">
          {announcement}
        </p>
      </main>
      {drawer && (
        <StatusDrawer
          api={api}
          state={drawer}
          onClose={closeDrawer}
          onLoadMore={loadMoreHistory}
          onOpen={(record) => void openDrawer(record)}
          onOpenId={(id) => void openById(id)}
        />
      )}
    </>
  )
}
