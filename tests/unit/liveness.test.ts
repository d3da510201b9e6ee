import { isOverdue, isStalled, lapseOf, overdueAt, stallsAt } from '../../src/domain/liveness'
import { matcherFor } from '../../src/domain/event-selector'
import type { StatusEvent, StoredStatus } from '../../src/domain/status-record'
import { toRecord } from '../../src/domain/status-record'
import {
  applyCancel,
  applyError,
  applyHeartbeat,
  applySweep,
  applyUpdate,
  createStatus,
  type CreateInput,
} from '../../src/domain/status-rules'

const t0 = new Date('2026-01-01T00:00:00.000Z')
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000)
const create = (input: Partial<CreateInput> = {}) => createStatus({ status_id: 'job-1', ...input }, t0)
/** A status moved to `processing` at `seconds`: that write is its last heartbeat. */
const processingAt = (seconds: number, input: Partial<CreateInput> = {}) =>
  applyUpdate(create(input), { new_status: 'processing' }, at(seconds))!.next

describe('due times', () => {
  test('when a status has no liveness fields, then it is never due', () => {
    const s = processingAt(1)
    expect([s.stalls_at, s.overdue_at, s.due_at]).toEqual([null, null, null])
    expect(lapseOf(s, at(1e6))).toBeNull()
  })

  test('when it is pending with a heartbeat timeout, then it cannot stall until it starts', () => {
    const s = create({ heartbeat_timeout_s: 10 })
    expect(s.stalls_at).toBeNull()
    expect(isStalled(s, at(1e6))).toBe(false)
  })

  test('when it is created processing, then the stall clock runs from its creation', () => {
    const s = create({ status: 'processing', heartbeat_timeout_s: 10 })
    expect(s.last_heartbeat_at).toBeNull()
    expect(s.stalls_at).toEqual(at(10))
    expect(s.due_at).toEqual(at(10))
  })

  test('when any write arrives, then it is a heartbeat that moves the stall time', () => {
    const s = processingAt(5, { heartbeat_timeout_s: 10 })
    expect(s.last_heartbeat_at).toEqual(at(5))
    expect(s.stalls_at).toEqual(at(15))
    const later = applyUpdate(s, { progress_percentage: 40 }, at(12))!.next
    expect(later.last_heartbeat_at).toEqual(at(12))
    expect(later.due_at).toEqual(at(22))
  })

  test('when a deadline comes before the stall, then the deadline is what is due', () => {
    const s = processingAt(1, { heartbeat_timeout_s: 100, deadline_at: at(30) })
    expect(s.stalls_at).toEqual(at(101))
    expect(s.overdue_at).toEqual(at(30))
    expect(s.due_at).toEqual(at(30))
  })

  test('when it waits to start, then start_by counts; once started it no longer does', () => {
    const s = create({ start_by: at(20), deadline_at: at(60) })
    expect(overdueAt(s)).toEqual(at(20))
    const started = applyUpdate(s, { new_status: 'starting' }, at(5))!.next
    expect(started.overdue_at).toEqual(at(60))
  })

  test('when it is terminal, then nothing is due', () => {
    const s = applyCancel(processingAt(1, { heartbeat_timeout_s: 5, deadline_at: at(30) }), at(2)).next
    expect([s.stalls_at, s.overdue_at, s.due_at]).toEqual([null, null, null])
    expect(isOverdue(s, at(100))).toBe(false)
    expect(lapseOf(s, at(100))).toBeNull()
  })

  test('when stallsAt is read from a record, then it needs the timeout and a start state', () => {
    const s = processingAt(3, { heartbeat_timeout_s: 2 })
    expect(stallsAt(s)).toEqual(at(5))
    expect(stallsAt({ ...s, heartbeat_timeout_s: null })).toBeNull()
    expect(stallsAt({ ...s, status: 'retry_pending' })).toBeNull()
  })
})

describe('create: times in the past', () => {
  test.each(['start_by', 'deadline_at'] as const)(
    'when %s is not ahead, then it is refused by name',
    (field) => {
      for (const when of [t0, at(-1)]) {
        expect(() => create({ [field]: when })).toThrow(
          expect.objectContaining({
            code: 'validation-failed',
            errors: [expect.objectContaining({ path: field })],
          }),
        )
      }
      expect(create({ [field]: at(1) })[field]).toEqual(at(1))
    },
  )
})

describe('applySweep', () => {
  test('when the heartbeat lapsed with retries left, then it is retry_pending with a heartbeat-timeout error', () => {
    const s = processingAt(1, { heartbeat_timeout_s: 10 })
    expect(applySweep(s, at(10.999))).toBeNull()
    const change = applySweep(s, at(11))!
    expect(change.type).toBe('status.error')
    expect(change.next).toMatchObject({
      status: 'retry_pending',
      retry_count: 1,
      error_info: { code: 'heartbeat-timeout' },
      version: s.version + 1,
    })
    expect(change.next.error_info!.message).toContain('10 s')
    // The service's sweep is not the producer's heartbeat.
    expect(change.next.last_heartbeat_at).toEqual(at(1))
    expect(change.changes.status).toEqual(['processing', 'retry_pending'])
    expect(change.changes).not.toHaveProperty('last_heartbeat_at')
  })

  test('when the heartbeat lapses with no retries left, then it fails', () => {
    const s = processingAt(1, { heartbeat_timeout_s: 10, max_retries: 0 })
    expect(applySweep(s, at(20))!.next).toMatchObject({
      status: 'failed',
      error_info: { code: 'heartbeat-timeout' },
    })
  })

  test('when retries run out over several lapses, then it is failed at the last one', () => {
    let s = create({ heartbeat_timeout_s: 10, max_retries: 2 })
    const states: string[] = []
    for (let round = 0; round < 3; round++) {
      const seconds = 100 * (round + 1)
      s = applySweep(applyUpdate(s, { new_status: 'processing' }, at(seconds))!.next, at(seconds + 10))!.next
      states.push(s.status)
    }
    expect(states).toEqual(['retry_pending', 'retry_pending', 'failed'])
    expect(s.retry_count).toBe(3)
  })

  test('when start_by passes while pending or retry_pending, then it fails with start-timeout and no retry', () => {
    const pending = create({ start_by: at(20), max_retries: 5 })
    expect(applySweep(pending, at(19))).toBeNull()
    expect(applySweep(pending, at(20))!.next).toMatchObject({
      status: 'failed',
      error_info: { code: 'start-timeout' },
    })
    const retrying = applyError(processingAt(1, { start_by: at(20) }), { message: 'x' }, true, at(2)).next
    expect(retrying.status).toBe('retry_pending')
    expect(applySweep(retrying, at(21))!.next.error_info!.code).toBe('start-timeout')
  })

  test('when the deadline passes, then it fails with deadline-exceeded even if it is also stalled', () => {
    const s = processingAt(1, { heartbeat_timeout_s: 5, deadline_at: at(30), max_retries: 5 })
    expect(applySweep(s, at(40))!.next).toMatchObject({
      status: 'failed',
      error_info: { code: 'deadline-exceeded' },
    })
  })

  test('when a heartbeat came before the sweep, then the sweep finds nothing to do', () => {
    const s = processingAt(1, { heartbeat_timeout_s: 10 })
    const beaten = applyHeartbeat(s, {}, at(9)).next
    expect(applySweep(beaten, at(11))).toBeNull()
    expect(applySweep(beaten, at(19))!.next.status).toBe('retry_pending')
  })
})

describe('applyHeartbeat', () => {
  test('when bare, then it moves only the heartbeat and the due times: no version, no change', () => {
    const s = processingAt(1, { heartbeat_timeout_s: 10 })
    const beat = applyHeartbeat(s, {}, at(4))
    expect(beat.change).toBeNull()
    expect(beat.next).toEqual({ ...s, last_heartbeat_at: at(4), stalls_at: at(14), due_at: at(14) })
  })

  test('when it carries progress, then it is an update with its event', () => {
    const s = processingAt(1)
    const beat = applyHeartbeat(s, { progress_percentage: 30, message: 'a third' }, at(4))
    expect(beat.change?.type).toBe('status.progress')
    expect(beat.next).toMatchObject({
      progress_percentage: 30,
      version: s.version + 1,
      last_heartbeat_at: at(4),
    })
  })

  test('when the status is terminal, then it is refused as status-terminal', () => {
    const done = applyUpdate(processingAt(1), { new_status: 'completed' }, at(2))!.next
    expect(() => applyHeartbeat(done, {}, at(3))).toThrow(
      expect.objectContaining({ code: 'status-terminal' }),
    )
  })
})

describe('subscription filters stalled and overdue', () => {
  /** The event a change makes, as the feed stores it (times as text). */
  const eventOf = (next: StoredStatus, changes: Record<string, [unknown, unknown]>): StatusEvent =>
    JSON.parse(
      JSON.stringify({
        event_id: 'e',
        seq: 1,
        type: 'status.error',
        status_id: next.status_id,
        version: next.version,
        occurred_at: next.updated_at,
        changes,
        status: toRecord(next),
      }),
    )

  test("when the sweeper ends a stall, then its event is a stalled subscriber's; a healthy status's is not", () => {
    const s = processingAt(1, { heartbeat_timeout_s: 10 })
    const swept = applySweep(s, at(12))!
    const stalled = matcherFor({ filter: { stalled: true } })
    expect(stalled(eventOf(swept.next, swept.changes))).toBe(true)
    const healthy = applyUpdate(s, { progress_percentage: 20 }, at(5))!
    expect(stalled(eventOf(healthy.next, healthy.changes))).toBe(false)
  })

  test("when a deadline passes, then the failure is an overdue subscriber's event", () => {
    const s = processingAt(1, { deadline_at: at(30) })
    const swept = applySweep(s, at(31))!
    const overdue = matcherFor({ filter: { overdue: true } })
    expect(overdue(eventOf(swept.next, swept.changes))).toBe(true)
    const early = applyUpdate(s, { progress_percentage: 20 }, at(5))!
    expect(overdue(eventOf(early.next, early.changes))).toBe(false)
  })
})
