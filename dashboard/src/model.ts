import {
  StatusTrackerError,
  StatusTrackerNetworkError,
  type ListQuery,
  type LiveFilter,
  type Page,
  type PriorityValue,
  type StatusChangeEvent,
  type StatusRecord,
  type StatusValue,
} from './api'

export type Sort = NonNullable<ListQuery['sort']>

/** The filter form's state; text fields hold what the user typed. */
export interface Filters {
  status: StatusValue[]
  priority: PriorityValue[]
  kind: string
  tag: string
  q: string
  /** `datetime-local` values, in the browser's time zone. */
  updatedAfter: string
  updatedBefore: string
  sort: Sort
  limit: number
}

export const emptyFilters: Filters = {
  status: [],
  priority: [],
  kind: '',
  tag: '',
  q: '',
  updatedAfter: '',
  updatedBefore: '',
  sort: '-updated_at',
  limit: 25,
}

export const SORT_OPTIONS: [value: Sort, label: string][] = [
  ['-updated_at', 'Updated, newest first'],
  ['updated_at', 'Updated, oldest first'],
  ['-created_at', 'Created, newest first'],
  ['created_at', 'Created, oldest first'],
  ['-priority', 'Priority, highest first'],
  ['priority', 'Priority, lowest first'],
  ['-progress_percentage', 'Progress, most first'],
  ['progress_percentage', 'Progress, least first'],
  ['status_id', 'ID, A to Z'],
  ['-status_id', 'ID, Z to A'],
]

const tagsOf = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)

const isoOf = (local: string) => {
  const time = local ? new Date(local) : undefined
  return time && !Number.isNaN(time.getTime()) ? time.toISOString() : undefined
}

const listOrNothing = <T>(list: T[]) => (list.length > 0 ? list : undefined)

/** The listing query for `filters`; fields left empty are left out. */
export function toQuery(filters: Filters, cursor?: string): ListQuery {
  return {
    status: listOrNothing(filters.status),
    priority: listOrNothing(filters.priority),
    kind: filters.kind.trim() || undefined,
    tag: listOrNothing(tagsOf(filters.tag)),
    q: filters.q.trim() || undefined,
    updated_after: isoOf(filters.updatedAfter),
    updated_before: isoOf(filters.updatedBefore),
    sort: filters.sort,
    limit: filters.limit,
    cursor,
  }
}

/** The part of the filters a realtime subscription understands; the rest is checked by `matches`. */
export function toLiveFilter(filters: Filters): LiveFilter {
  return {
    ...(filters.status.length > 0 && { status: filters.status }),
    ...(filters.priority.length > 0 && { priority: filters.priority }),
    ...(filters.kind.trim() && { kind: filters.kind.trim() }),
  }
}

/** Whether `record` belongs in the table under `filters`, as the API's listing decides it. */
export function matches(record: StatusRecord, filters: Filters): boolean {
  if (filters.status.length > 0 && !filters.status.includes(record.status)) return false
  if (filters.priority.length > 0 && !filters.priority.includes(record.priority)) return false
  const kind = filters.kind.trim()
  if (kind && record.kind !== kind) return false
  const tags = tagsOf(filters.tag)
  if (tags.length > 0) {
    const wanted = new Set(tags.map((t) => t.toLowerCase()))
    if (!record.tags.some((t) => wanted.has(t.toLowerCase()))) return false
  }
  const q = filters.q.trim().toLowerCase()
  if (q) {
    const haystack = [record.status_id, record.message, record.resource_id]
    if (!haystack.some((text) => text?.toLowerCase().includes(q))) return false
  }
  const updated = Date.parse(record.updated_at)
  const after = isoOf(filters.updatedAfter)
  const before = isoOf(filters.updatedBefore)
  if (after && !(updated > Date.parse(after))) return false
  if (before && !(updated < Date.parse(before))) return false
  return true
}

/** The newer of two versions of one status. */
export const newer = (a: StatusRecord, b: StatusRecord): StatusRecord => (b.version > a.version ? b : a)

export const TERMINAL: readonly StatusValue[] = ['completed', 'failed', 'cancelled']

export const stateLabel = (status: StatusValue) => status.replace('_', ' ')

/** A percentage as the page shows it: at most two decimals. */
export const roundPercent = (value: number) => Math.round(value * 100) / 100

export function formatTime(iso: string | null): string {
  if (!iso) return '—'
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
}

const show = (value: unknown): string =>
  value === null || value === undefined
    ? '—'
    : typeof value === 'object'
      ? JSON.stringify(value)
      : String(value)

/** One line per changed field of an event: `status: pending → processing`. */
export function describeChanges(event: StatusChangeEvent): string[] {
  return Object.entries(event.changes).map(([field, [from, to]]) => `${field}: ${show(from)} → ${show(to)}`)
}

/** Why a request failed, in words for the person who typed the key. */
export function explainRefusal(err: unknown): string {
  if (err instanceof StatusTrackerNetworkError) return 'The service could not be reached. Is it running?'
  if (!(err instanceof StatusTrackerError)) return 'Something went wrong. Try again.'
  if (err.code === 'unauthenticated') return 'This API key was not accepted. Check it and try again.'
  if (err.code === 'insufficient-scope') return 'This API key may not read statuses (it lacks status:read).'
  return `The service refused: ${err.detail}`
}

/**
 * What the liveness rules (SPEC §11) say of a record at `now`, from its own fields: its heartbeat has
 * lapsed (stalled, until the server's sweeper records it), or it is past its deadline or start-by.
 */
export function livenessOf(record: StatusRecord, now: number): 'stalled' | 'overdue' | null {
  if (TERMINAL.includes(record.status)) return null
  const at = (time: string | null) => (time === null ? Infinity : Date.parse(time))
  if (at(record.deadline_at) <= now) return 'overdue'
  const waiting = record.status === 'pending' || record.status === 'retry_pending'
  if (waiting && at(record.start_by) <= now) return 'overdue'
  if (record.heartbeat_timeout_s === null || waiting) return null
  const last = at(record.last_heartbeat_at ?? record.created_at)
  return last + record.heartbeat_timeout_s * 1000 <= now ? 'stalled' : null
}

/** A status's roll-up of its children (SPEC §12), as the service keeps it. */
export type ChildrenSummary = NonNullable<StatusRecord['children']>

/** Left to right in a roll-up bar: what has finished, then what runs, then what waits. */
const ROLLUP_ORDER: readonly StatusValue[] = [
  'completed',
  'failed',
  'cancelled',
  'processing',
  'starting',
  'retry_pending',
  'pending',
]

export interface Rollup {
  /** The states some child is in, in bar order, each with how many are in it. */
  segments: { status: StatusValue; count: number }[]
  total: number
  /** Children that completed. */
  done: number
  /** The weight-weighted mean of the children's progress, rounded as shown. */
  progress: number
  /** The short line beside the bar: `62.5% · 12/40 done`. */
  text: string
  /** The counts by state in words, for the bar's accessible name: `12 completed, 28 pending` (or `none`). */
  counts: string
  /** Everything in one sentence, for a tooltip. */
  description: string
}

export function rollupOf(children: ChildrenSummary): Rollup {
  const segments = ROLLUP_ORDER.flatMap((status) => {
    const count = children.by_status[status] ?? 0
    return count > 0 ? [{ status, count }] : []
  })
  const done = children.by_status.completed ?? 0
  const progress = roundPercent(children.progress_percentage)
  const counts = segments.map(({ status, count }) => `${count} ${stateLabel(status)}`).join(', ') || 'none'
  const noun = children.total === 1 ? 'child' : 'children'
  return {
    segments,
    total: children.total,
    done,
    progress,
    text: `${progress}% · ${done}/${children.total} done`,
    counts,
    description: `${children.total} ${noun}, ${done} done, weighted progress ${progress}%${segments.length ? `: ${counts}` : ''}`,
  }
}

/** The order `api.children` lists them in: oldest first, then by ID (the keyset's tie-break). */
export function childOrder(a: StatusRecord, b: StatusRecord): number {
  const byTime = Date.parse(a.created_at) - Date.parse(b.created_at)
  if (byTime !== 0) return byTime
  return a.status_id < b.status_id ? -1 : a.status_id > b.status_id ? 1 : 0
}

/** The children of one status the drawer has loaded: the first pages, in `childOrder`. */
export interface ChildList {
  items: StatusRecord[]
  /** More children come after the last one shown, from `cursor` on. */
  hasMore: boolean
  cursor?: string
}

export function childListOf(page: Page<StatusRecord>): ChildList {
  return { items: page.items, hasMore: page.has_more, cursor: page.next_cursor ?? undefined }
}

/** `list` with the next page of children added; a child already shown keeps its newer version. */
export function appendChildPage(list: ChildList, page: Page<StatusRecord>): ChildList {
  const shown = new Map(list.items.map((child) => [child.status_id, child]))
  for (const child of page.items) {
    const known = shown.get(child.status_id)
    shown.set(child.status_id, known ? newer(known, child) : child)
  }
  return { ...childListOf(page), items: [...shown.values()].sort(childOrder) }
}

/**
 * `list` after a live event of the children of `parentId`. A child that is not shown is added when
 * it falls among the loaded pages (a new child does when every page is loaded); one that belongs to a
 * page not loaded yet is left for that page. Applying an event twice changes nothing more, so events
 * seen while a page loaded can be applied again to what it brought.
 */
export function applyChildEvent(list: ChildList, parentId: string, event: StatusChangeEvent): ChildList {
  if (event.status.parent_id !== parentId) return list
  const index = list.items.findIndex((child) => child.status_id === event.status_id)
  if (event.type === 'status.deleted') {
    return index < 0 ? list : { ...list, items: list.items.filter((_, i) => i !== index) }
  }
  if (index >= 0) {
    const current = list.items[index]
    const next = newer(current, event.status)
    return next === current ? list : { ...list, items: list.items.map((c, i) => (i === index ? next : c)) }
  }
  const last = list.items.at(-1)
  const withinLoaded = !list.hasMore || (last !== undefined && childOrder(event.status, last) < 0)
  if (!withinLoaded) return list
  return { ...list, items: [...list.items, event.status].sort(childOrder) }
}
