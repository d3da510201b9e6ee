import {
  StatusTrackerError,
  StatusTrackerNetworkError,
  type StatusChangeEvent,
  type StatusRecord,
} from '../../dashboard/src/api'
import {
  appendChildPage,
  applyChildEvent,
  childListOf,
  emptyFilters,
  explainRefusal,
  livenessOf,
  matches,
  newer,
  rollupOf,
  toLiveFilter,
  toQuery,
  type ChildList,
  type Filters,
} from '../../dashboard/src/model'

const record = (overrides: Partial<StatusRecord> = {}): StatusRecord => ({
  status_id: 'video-42',
  kind: 'video.transcode',
  resource_id: 'video:42',
  status: 'processing',
  priority: 'high',
  progress_percentage: 40,
  message: 'Encoding 1080p',
  steps_completed: null,
  steps_total: null,
  error_info: null,
  retry_count: 0,
  max_retries: 3,
  metadata: {},
  tags: ['Urgent', 'billing'],
  version: 3,
  created_at: '2026-11-22T10:00:00.000Z',
  updated_at: '2026-11-22T10:05:00.000Z',
  started_at: '2026-11-22T10:01:00.000Z',
  completed_at: null,
  estimated_completion_at: null,
  heartbeat_timeout_s: null,
  start_by: null,
  deadline_at: null,
  last_heartbeat_at: null,
  parent_id: null,
  weight: 1,
  on_child_failure: 'continue',
  complete_with_children: false,
  children: null,
  ...overrides,
})
const filters = (overrides: Partial<Filters>): Filters => ({ ...emptyFilters, ...overrides })

test('when the form holds padded text and a tag list, then the query trims it and leaves empty fields out', () => {
  const query = toQuery(filters({ kind: ' video.transcode ', q: '  ', tag: 'urgent, ,billing ' }), 'c1')

  expect(query).toMatchObject({
    kind: 'video.transcode',
    q: undefined,
    tag: ['urgent', 'billing'],
    cursor: 'c1',
  })
  expect(query).toMatchObject({ sort: '-updated_at', limit: 25 })
  // The client sends an empty list as `status=`, which the API refuses: no list at all is sent instead.
  expect(toQuery(emptyFilters)).toMatchObject({ status: undefined, priority: undefined, tag: undefined })
})

test('when a time bound is not a valid time, then it is left out rather than sent', () => {
  expect(toQuery(filters({ updatedAfter: 'not a time' })).updated_after).toBeUndefined()
  // A datetime-local value is the browser's local time; the API wants an instant.
  expect(toQuery(filters({ updatedAfter: '2026-11-22T10:00:00' })).updated_after).toBe(
    new Date(2026, 10, 22, 10, 0, 0).toISOString(),
  )
})

test('the live subscription carries only the filters the socket understands', () => {
  expect(toLiveFilter(filters({ status: ['processing'], kind: ' k ', q: 'x', tag: 'a' }))).toEqual({
    status: ['processing'],
    kind: 'k',
  })
  expect(toLiveFilter(emptyFilters)).toEqual({})
})

test.each<[string, Partial<Filters>, boolean]>([
  ['no filter', {}, true],
  ['its state', { status: ['processing', 'pending'] }, true],
  ['another state', { status: ['completed'] }, false],
  ['another priority', { priority: ['low'] }, false],
  ['another kind', { kind: 'csv.import' }, false],
  ['a tag in another case', { tag: 'urgent' }, true],
  ['a tag it lacks', { tag: 'urg' }, false],
  ['a substring of its message, any case', { q: 'ENCODING' }, true],
  ['a substring of its resource', { q: 'video:4' }, true],
  ['text it does not hold', { q: 'import' }, false],
  [
    'a window around its update',
    { updatedAfter: '2026-11-21T00:00', updatedBefore: '2026-11-24T00:00' },
    true,
  ],
  ['a window after its update', { updatedAfter: '2026-11-24T00:00' }, false],
])('when the filter is %s, then the status is matched when expected', (_name, overrides, expected) => {
  expect(matches(record(), filters(overrides))).toBe(expected)
})

test('of two versions of a status the higher one wins, whichever comes first', () => {
  const old = record({ version: 2, progress_percentage: 10 })
  const current = record({ version: 5, progress_percentage: 90 })

  expect(newer(old, current)).toBe(current)
  expect(newer(current, old)).toBe(current)
})

const problem = (code: string, status: number, detail: string) =>
  new StatusTrackerError({ type: `/problems/${code}`, title: 'Refused', status, detail, code })

test.each<[string, unknown, string]>([
  [
    'no answer came',
    new StatusTrackerNetworkError('GET /api/stats: request failed', 4),
    'could not be reached',
  ],
  ['the key is refused', problem('unauthenticated', 401, 'Missing or invalid API key'), 'not accepted'],
  ['the key lacks the scope', problem('insufficient-scope', 403, 'Needs status:read'), 'lacks status:read'],
  ['another problem', problem('rate-limited', 429, 'Too many requests'), 'refused: Too many requests'],
  ['not an error of the client', new TypeError('x is undefined'), 'Something went wrong'],
])('when %s, then the page explains it in words', (_name, error, words) => {
  expect(explainRefusal(error)).toContain(words)
})

describe('livenessOf (SPEC §11, judged in the browser)', () => {
  const now = Date.parse('2026-11-22T10:10:00.000Z')
  test('when a processing status has not beaten within its timeout, then it is stalled; within it, nothing', () => {
    const beaten = (last: string) => record({ heartbeat_timeout_s: 60, last_heartbeat_at: last })
    expect(livenessOf(beaten('2026-11-22T10:09:00.000Z'), now)).toBe('stalled')
    expect(livenessOf(beaten('2026-11-22T10:09:00.001Z'), now)).toBeNull()
    // Never beaten: the clock runs from its creation.
    expect(livenessOf(record({ heartbeat_timeout_s: 60 }), now)).toBe('stalled')
    expect(livenessOf(record({ heartbeat_timeout_s: null }), now)).toBeNull()
  })

  test('when the deadline or, while waiting to start, start_by has passed, then it is overdue', () => {
    expect(livenessOf(record({ deadline_at: '2026-11-22T10:10:00.000Z' }), now)).toBe('overdue')
    expect(livenessOf(record({ deadline_at: '2026-11-22T10:10:00.001Z' }), now)).toBeNull()
    const startBy = '2026-11-22T10:00:00.000Z'
    expect(livenessOf(record({ status: 'pending', start_by: startBy }), now)).toBe('overdue')
    expect(livenessOf(record({ status: 'processing', start_by: startBy }), now)).toBeNull()
    // A pending status cannot stall: it has not started.
    expect(livenessOf(record({ status: 'pending', heartbeat_timeout_s: 1 }), now)).toBeNull()
  })

  test('when it is terminal, then it is neither', () => {
    expect(livenessOf(record({ status: 'failed', deadline_at: '2026-11-22T10:00:00.000Z' }), now)).toBeNull()
  })
})

describe('rollupOf (SPEC §12)', () => {
  test('when children are in several states, then the bar runs finished → running → waiting and says how many are done', () => {
    const rollup = rollupOf({
      total: 40,
      by_status: { pending: 8, processing: 17, completed: 12, failed: 2, retry_pending: 1 },
      progress_percentage: 41.2345,
    })

    expect(rollup.segments).toEqual([
      { status: 'completed', count: 12 },
      { status: 'failed', count: 2 },
      { status: 'processing', count: 17 },
      { status: 'retry_pending', count: 1 },
      { status: 'pending', count: 8 },
    ])
    expect(rollup).toMatchObject({ total: 40, done: 12, progress: 41.23, text: '41.23% · 12/40 done' })
    expect(rollup.counts).toBe('12 completed, 2 failed, 17 processing, 1 retry pending, 8 pending')
    expect(rollup.description).toBe(
      '40 children, 12 done, weighted progress 41.23%: 12 completed, 2 failed, 17 processing, 1 retry pending, 8 pending',
    )
  })

  test('when a state has a count of zero, then it has no segment; one child is a child', () => {
    const rollup = rollupOf({ total: 1, by_status: { pending: 0, starting: 1 }, progress_percentage: 0 })

    expect(rollup.segments).toEqual([{ status: 'starting', count: 1 }])
    expect(rollup.text).toBe('0% · 0/1 done')
    expect(rollup.description).toBe('1 child, 0 done, weighted progress 0%: 1 starting')
  })

  test('when no child is counted, then the counts say none', () => {
    const rollup = rollupOf({ total: 0, by_status: {}, progress_percentage: 0 })

    expect(rollup.segments).toEqual([])
    expect(rollup.counts).toBe('none')
    expect(rollup.description).toBe('0 children, 0 done, weighted progress 0%')
  })
})

describe("the drawer's list of children", () => {
  const parentId = 'batch-1'
  const child = (n: number, overrides: Partial<StatusRecord> = {}) =>
    record({
      status_id: `part-${n}`,
      parent_id: parentId,
      status: 'pending',
      version: 1,
      created_at: new Date(Date.parse('2026-11-22T10:00:00.000Z') + n * 1000).toISOString(),
      ...overrides,
    })
  const event = (
    type: StatusChangeEvent['type'],
    status: StatusRecord,
    seq = status.version,
  ): StatusChangeEvent => ({
    event_id: `e-${status.status_id}-${seq}-${type}`,
    seq,
    type,
    status_id: status.status_id,
    version: status.version,
    occurred_at: status.updated_at,
    changes: {},
    status,
  })
  const list = (items: StatusRecord[], hasMore = false): ChildList => ({
    items,
    hasMore,
    cursor: hasMore ? 'next' : undefined,
  })
  const ids = (l: ChildList) => l.items.map((c) => c.status_id)

  test('when a shown child changes, then its newer version replaces it in place; an older one is ignored', () => {
    const before = list([child(1), child(2, { version: 4 }), child(3)])

    const updated = applyChildEvent(before, parentId, event('status.updated', child(2, { version: 5 })))
    const stale = applyChildEvent(before, parentId, event('status.updated', child(2, { version: 3 })))

    expect(ids(updated)).toEqual(['part-1', 'part-2', 'part-3'])
    expect(updated.items[1].version).toBe(5)
    expect(stale).toBe(before)
  })

  test('when every page is loaded and a child is created, then it is added in creation order', () => {
    const after = applyChildEvent(list([child(1), child(3)]), parentId, event('status.created', child(2)))

    expect(ids(after)).toEqual(['part-1', 'part-2', 'part-3'])
  })

  test('when later pages are not loaded, then a new child is left for them, but one among the loaded is added', () => {
    const partial = list([child(1), child(3)], true)

    expect(applyChildEvent(partial, parentId, event('status.created', child(9)))).toBe(partial)
    // Created before the last one shown, yet missing (it was created while the page loaded).
    expect(ids(applyChildEvent(partial, parentId, event('status.updated', child(2))))).toEqual([
      'part-1',
      'part-2',
      'part-3',
    ])
  })

  test('when a shown child is deleted, then it leaves the list; an unknown one changes nothing', () => {
    const before = list([child(1), child(2)])

    expect(ids(applyChildEvent(before, parentId, event('status.deleted', child(1, { version: 2 }))))).toEqual(
      ['part-2'],
    )
    expect(applyChildEvent(before, parentId, event('status.deleted', child(7)))).toBe(before)
  })

  test('when the event is of a status with another parent, then the list is left as it is', () => {
    const before = list([child(1)])

    expect(applyChildEvent(before, parentId, event('status.created', child(2, { parent_id: 'other' })))).toBe(
      before,
    )
  })

  test('when the events seen while a page loaded are applied again to it, then the result is as if each came once', () => {
    const seen = [
      event('status.created', child(2)),
      event('status.updated', child(2, { version: 2, status: 'processing' })),
      event('status.updated', child(1, { version: 2, status: 'completed' })),
      event('status.deleted', child(3, { version: 2 })),
    ]
    // The page was read after the first two events and before the last two.
    const page = childListOf({
      items: [child(1), child(2, { version: 2, status: 'processing' }), child(3)],
      has_more: false,
      next_cursor: null,
    })

    const once = seen.reduce((l, e) => applyChildEvent(l, parentId, e), page)
    const twice = seen.reduce((l, e) => applyChildEvent(l, parentId, e), once)

    expect(ids(once)).toEqual(['part-1', 'part-2'])
    expect(once.items.map((c) => c.status)).toEqual(['completed', 'processing'])
    expect(twice).toEqual(once)
  })

  test('when the next page comes, then it is appended and takes over the cursor; a child already shown keeps its newer version', () => {
    const shown = list([child(1), child(2, { version: 3, status: 'processing' })], true)

    const more = appendChildPage(shown, {
      items: [child(2, { version: 2 }), child(3), child(4)],
      has_more: false,
      next_cursor: null,
    })

    expect(ids(more)).toEqual(['part-1', 'part-2', 'part-3', 'part-4'])
    expect(more.items[1]).toMatchObject({ version: 3, status: 'processing' })
    expect(more).toMatchObject({ hasMore: false, cursor: undefined })
  })

  test('children created in the same instant are ordered by ID, as the listing pages them', () => {
    const at = '2026-11-22T10:00:00.000Z'
    const before = list([child(1, { status_id: 'b', created_at: at })])

    const after = applyChildEvent(
      before,
      parentId,
      event('status.created', child(2, { status_id: 'a', created_at: at })),
    )

    expect(ids(after)).toEqual(['a', 'b'])
  })
})
