import { StatusTrackerError, StatusTrackerNetworkError, type StatusRecord } from '../../dashboard/src/api'
import {
  emptyFilters,
  explainRefusal,
  livenessOf,
  matches,
  newer,
  toLiveFilter,
  toQuery,
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
