import type { StatusChangeEvent, StoredStatus } from '../../src/domain/status-record'
import { toRecord } from '../../src/domain/status-record'
import { applyUpdate, createStatus, type CreateInput, type UpdateInput } from '../../src/domain/status-rules'
import { matcherFor } from '../../src/domain/event-selector'

const t0 = new Date('2026-01-01T00:00:00.000Z')
let seq = 0

const created = (input: Partial<CreateInput> = {}): StoredStatus =>
  createStatus({ status_id: 'job-1', kind: 'video.transcode', ...input }, t0)

/** The event `applyUpdate` produces for `input` on `from`, as the outbox stores it. */
function eventOf(from: StoredStatus, input: UpdateInput): StatusChangeEvent {
  const change = applyUpdate(from, input, new Date(t0.getTime() + 1000))
  if (!change) throw new Error('the update changed nothing')
  seq += 1
  return {
    event_id: `event-${seq}`,
    seq,
    type: change.type,
    status_id: from.status_id,
    version: change.next.version,
    occurred_at: change.next.updated_at,
    changes: change.changes,
    status: toRecord(change.next),
  }
}

function createdEvent(input: Partial<CreateInput> = {}): StatusChangeEvent {
  const status = created(input)
  seq += 1
  return {
    event_id: `event-${seq}`,
    seq,
    type: 'status.created',
    status_id: status.status_id,
    version: 1,
    occurred_at: t0,
    changes: {},
    status: toRecord(status),
  }
}

describe('matcherFor with status ids', () => {
  test('when the event is about one of the ids, then it matches', () => {
    const matches = matcherFor({ ids: ['job-1', 'job-2'] })
    expect(matches(createdEvent({ status_id: 'job-2' }))).toBe(true)
  })

  test('when the event is about another status, then it does not match', () => {
    const matches = matcherFor({ ids: ['job-1', 'job-2'] })
    expect(matches(createdEvent({ status_id: 'job-3' }))).toBe(false)
  })

  test('when ids are given with a filter, then the ids decide alone', () => {
    const matches = matcherFor({ ids: ['job-1'], filter: { status: ['completed'] } })
    expect(matches(createdEvent({ status_id: 'job-1', status: 'pending' }))).toBe(true)
    expect(matches(createdEvent({ status_id: 'job-9', status: 'completed' }))).toBe(false)
  })
})

describe('matcherFor with a filter', () => {
  test('when the status is in the filter, then it matches; when it is not, then it does not', () => {
    const matches = matcherFor({ filter: { status: ['processing', 'retry_pending'] } })
    expect(matches(createdEvent({ status: 'processing' }))).toBe(true)
    expect(matches(createdEvent({ status: 'pending' }))).toBe(false)
  })

  test('when the priority is in the filter, then it matches; when it is not, then it does not', () => {
    const matches = matcherFor({ filter: { priority: ['high', 'critical'] } })
    expect(matches(createdEvent({ priority: 'critical' }))).toBe(true)
    expect(matches(createdEvent({ priority: 'low' }))).toBe(false)
  })

  test('when the kind is the filter, then it matches; another kind or none does not', () => {
    const matches = matcherFor({ filter: { kind: 'report.build' } })
    expect(matches(createdEvent({ kind: 'report.build' }))).toBe(true)
    expect(matches(createdEvent({ kind: 'video.transcode' }))).toBe(false)
    expect(matches(createdEvent({ kind: undefined }))).toBe(false)
  })

  test('when several fields are filtered, then all of them must match', () => {
    const matches = matcherFor({
      filter: { status: ['processing'], priority: ['high'], kind: 'video.transcode' },
    })
    expect(matches(createdEvent({ status: 'processing', priority: 'high' }))).toBe(true)
    expect(matches(createdEvent({ status: 'processing', priority: 'normal' }))).toBe(false)
    expect(matches(createdEvent({ status: 'pending', priority: 'high' }))).toBe(false)
    expect(matches(createdEvent({ status: 'processing', priority: 'high', kind: 'other' }))).toBe(false)
  })

  test('when a status leaves the filter (processing → completed under status [processing]), then the event matches', () => {
    const matches = matcherFor({ filter: { status: ['processing'] } })
    const event = eventOf(created({ status: 'processing' }), { new_status: 'completed' })
    expect(event.status.status).toBe('completed')
    expect(matches(event)).toBe(true)
  })

  test('when a status enters the filter (pending → processing under status [processing]), then the event matches', () => {
    const matches = matcherFor({ filter: { status: ['processing'] } })
    expect(matches(eventOf(created({ status: 'pending' }), { new_status: 'processing' }))).toBe(true)
  })

  test('when a status leaves a priority filter, then the event matches', () => {
    const matches = matcherFor({ filter: { priority: ['critical'] } })
    expect(matches(eventOf(created({ priority: 'critical' }), { priority: 'low' }))).toBe(true)
  })

  test('when a status was never in the filter (pending → starting under status [processing]), then the event does not match', () => {
    const matches = matcherFor({ filter: { status: ['processing'] } })
    expect(matches(eventOf(created({ status: 'pending' }), { new_status: 'starting' }))).toBe(false)
  })

  test('when a progress update keeps the status outside the filter, then the event does not match', () => {
    const matches = matcherFor({ filter: { status: ['processing'] } })
    expect(matches(eventOf(created({ status: 'starting' }), { progress_percentage: 40 }))).toBe(false)
  })

  test('when only the priority left the filter but the status never matched, then the event does not match', () => {
    // Before: (pending, critical); after: (pending, low). Neither side is (processing, critical).
    const matches = matcherFor({ filter: { status: ['processing'], priority: ['critical'] } })
    expect(matches(eventOf(created({ status: 'pending', priority: 'critical' }), { priority: 'low' }))).toBe(
      false,
    )
  })
})

describe('matcherFor with an empty selector', () => {
  test.each([
    ['no ids and no filter', {}],
    ['an empty filter', { filter: {} }],
    ['empty filter lists', { filter: { status: [], priority: [] } }],
  ])('when given %s, then every event matches', (_name, selector) => {
    const matches = matcherFor(selector)
    expect(matches(createdEvent({ status: 'pending', priority: 'low', kind: undefined }))).toBe(true)
    expect(matches(eventOf(created({ status: 'processing' }), { new_status: 'failed' }))).toBe(true)
  })
})
