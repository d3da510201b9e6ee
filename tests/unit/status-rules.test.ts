import type { StoredStatus } from '../../src/domain/status-record'
import {
  applyCancel,
  applyCreate,
  applyError,
  applyRemove,
  applyReport,
  applyUpdate,
  createStatus,
  estimateCompletion,
} from '../../src/domain/status-rules'

const t0 = new Date('2026-01-01T00:00:00.000Z')
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000)

const make = (overrides: Partial<StoredStatus> = {}): StoredStatus => ({
  ...createStatus({ status_id: 'job-1' }, t0),
  ...overrides,
})

describe('createStatus', () => {
  test('when nothing but an id is given, then the SPEC defaults apply', () => {
    const s = createStatus({ status_id: 'a' }, t0)
    expect(s).toMatchObject({
      status: 'pending',
      priority: 'normal',
      progress_percentage: 0,
      retry_count: 0,
      max_retries: 3,
      version: 1,
      metadata: {},
      tags: [],
      started_at: null,
      completed_at: null,
      error_info: null,
    })
    expect(s.created_at).toEqual(t0)
  })

  test('when steps are given without a percentage, then progress is derived from them', () => {
    expect(createStatus({ status_id: 'a', steps_completed: 3, steps_total: 8 }, t0).progress_percentage).toBe(
      37.5,
    )
  })

  test('when a status is created as completed, then progress is 100 and completed_at is set', () => {
    const s = createStatus({ status_id: 'a', status: 'completed', progress_percentage: 10 }, t0)
    expect(s.progress_percentage).toBe(100)
    expect(s.completed_at).toEqual(t0)
  })

  test('when a status is created as processing, then started_at is set', () => {
    expect(createStatus({ status_id: 'a', status: 'processing' }, t0).started_at).toEqual(t0)
  })

  test('when steps_completed exceeds steps_total, then it is a validation error', () => {
    expect(() => createStatus({ status_id: 'a', steps_completed: 9, steps_total: 8 }, t0)).toThrow(
      expect.objectContaining({ code: 'validation-failed' }),
    )
  })
})

describe('applyUpdate', () => {
  test('when the status moves, then version, timestamps and a status.updated change follow', () => {
    const change = applyUpdate(make(), { new_status: 'processing' }, at(5))!
    expect(change.type).toBe('status.updated')
    expect(change.next).toMatchObject({
      status: 'processing',
      version: 2,
      started_at: at(5),
      updated_at: at(5),
    })
    expect(change.changes.status).toEqual(['pending', 'processing'])
  })

  test('when only progress changes, then the event is status.progress', () => {
    const current = make({ status: 'processing', started_at: t0 })
    const change = applyUpdate(current, { progress_percentage: 50, message: 'half' }, at(10))!
    expect(change.type).toBe('status.progress')
    expect(change.changes.progress_percentage).toEqual([0, 50])
  })

  test('when the same status is set again with progress, then it is a progress update, not a transition', () => {
    const current = make({ status: 'processing', started_at: t0 })
    const change = applyUpdate(current, { new_status: 'processing', progress_percentage: 20 }, at(1))!
    expect(change.type).toBe('status.progress')
    expect(change.changes.status).toBeUndefined()
  })

  test('when metadata changes, then the event is status.updated', () => {
    expect(applyUpdate(make(), { metadata: { a: 1 } }, at(1))!.type).toBe('status.updated')
  })

  test('when the update changes nothing, then there is no change at all', () => {
    expect(applyUpdate(make({ message: 'x' }), { message: 'x' }, at(1))).toBeNull()
  })

  test('when moving to cancelled, then the event is status.cancelled and completed_at is set', () => {
    const change = applyUpdate(make(), { new_status: 'cancelled' }, at(3))!
    expect(change.type).toBe('status.cancelled')
    expect(change.next.completed_at).toEqual(at(3))
  })

  test('when completing, then progress is forced to 100', () => {
    const current = make({ status: 'processing', progress_percentage: 40 })
    expect(
      applyUpdate(current, { new_status: 'completed', progress_percentage: 70 }, at(1))!.next
        .progress_percentage,
    ).toBe(100)
  })

  test('when an illegal transition is asked for, then 409 names from and to', () => {
    expect(() => applyUpdate(make({ status: 'processing' }), { new_status: 'pending' }, at(1))).toThrow(
      expect.objectContaining({
        code: 'invalid-transition',
        status: 409,
        extra: { from: 'processing', to: 'pending' },
      }),
    )
  })

  test('when a terminal status is given new progress, then it is refused as terminal', () => {
    const done = make({ status: 'completed', progress_percentage: 100 })
    expect(() => applyUpdate(done, { progress_percentage: 10 }, at(1))).toThrow(
      expect.objectContaining({ code: 'status-terminal' }),
    )
    expect(() => applyUpdate(done, { new_status: 'processing' }, at(1))).toThrow(
      expect.objectContaining({ code: 'invalid-transition' }),
    )
  })

  test('when a terminal status gets new tags, then that is allowed', () => {
    const done = make({ status: 'failed' })
    expect(applyUpdate(done, { tags: ['reviewed'] }, at(1))!.next.tags).toEqual(['reviewed'])
  })

  test('when only steps change, then progress is derived from the merged steps', () => {
    const current = make({ status: 'processing', steps_total: 4 })
    expect(applyUpdate(current, { steps_completed: 1 }, at(1))!.next.progress_percentage).toBe(25)
  })

  test('when merged steps become inconsistent, then it is a validation error', () => {
    const current = make({ status: 'processing', steps_total: 4 })
    expect(() => applyUpdate(current, { steps_completed: 5 }, at(1))).toThrow(
      expect.objectContaining({ code: 'validation-failed' }),
    )
  })
})

describe('applyError (SPEC record_error)', () => {
  const processing = make({ status: 'processing', started_at: t0 })

  test('when a retry is wanted and allowed, then the status waits for a retry', () => {
    const change = applyError(processing, { message: 'boom' }, true, at(1))
    expect(change.type).toBe('status.error')
    expect(change.next).toMatchObject({
      status: 'retry_pending',
      retry_count: 1,
      error_info: { message: 'boom' },
    })
  })

  test('when retries are used up, then the status fails', () => {
    const change = applyError({ ...processing, retry_count: 3 }, { message: 'boom' }, true, at(1))
    expect(change.next).toMatchObject({ status: 'failed', retry_count: 4, completed_at: at(1) })
  })

  test('when no retry is wanted, then the status fails', () => {
    expect(applyError(processing, { message: 'boom' }, false, at(1)).next.status).toBe('failed')
  })

  test('when a status waiting for retry errors again, then it stays waiting with one more retry counted', () => {
    const waiting = { ...processing, status: 'retry_pending' as const, retry_count: 1 }
    expect(applyError(waiting, { message: 'again' }, true, at(1)).next).toMatchObject({
      status: 'retry_pending',
      retry_count: 2,
    })
  })

  test('when a pending status asks for a retry, then the transition is illegal', () => {
    expect(() => applyError(make(), { message: 'x' }, true, at(1))).toThrow(
      expect.objectContaining({
        code: 'invalid-transition',
        extra: { from: 'pending', to: 'retry_pending' },
      }),
    )
  })

  test('when the status is terminal, then an error is refused', () => {
    expect(() => applyError(make({ status: 'cancelled' }), { message: 'x' }, false, at(1))).toThrow(
      expect.objectContaining({ code: 'status-terminal' }),
    )
  })
})

describe('applyCancel', () => {
  test('when a live status is cancelled, then it is terminal with a cancelled event', () => {
    const change = applyCancel(make({ status: 'processing' }), at(2))
    expect(change.type).toBe('status.cancelled')
    expect(change.next).toMatchObject({ status: 'cancelled', completed_at: at(2), version: 2 })
  })

  test('when a terminal status is cancelled, then it is an invalid transition', () => {
    expect(() => applyCancel(make({ status: 'completed' }), at(2))).toThrow(
      expect.objectContaining({ code: 'invalid-transition', extra: { from: 'completed', to: 'cancelled' } }),
    )
  })
})

describe('estimateCompletion', () => {
  test('when 25 % took 10 s since start, then the rest is expected in 30 s', () => {
    const s = make({ status: 'processing', started_at: t0, progress_percentage: 25 })
    expect(estimateCompletion(s, at(10))).toEqual(at(40))
  })

  test('when there is no progress yet, or the status is terminal, then there is no estimate', () => {
    expect(estimateCompletion(make({ status: 'processing', started_at: t0 }), at(10))).toBeNull()
    expect(estimateCompletion(make({ status: 'completed', progress_percentage: 100 }), at(10))).toBeNull()
  })

  test('when no time has passed since start, then there is no estimate', () => {
    expect(
      estimateCompletion(make({ status: 'processing', started_at: t0, progress_percentage: 5 }), t0),
    ).toBeNull()
  })
})

describe('applyReport (reported_at)', () => {
  const reported = (seconds: number) => ({ reported_at: at(seconds) })

  test('when a report is older than the last applied one, then it is not applied and nothing changes', () => {
    const current = make({ last_reported_at: at(10), message: 'new' })
    const report = applyReport(current, { message: 'old', ...reported(5) }, at(20))
    expect(report).toEqual({ applied: false, next: current, change: null })
  })

  test('when a newer report changes nothing visible, then only last_reported_at moves: no version, no event', () => {
    const current = make({ last_reported_at: at(10), message: 'same' })
    const report = applyReport(current, { message: 'same', ...reported(15) }, at(20))
    expect(report.applied).toBe(true)
    expect(report.change).toBeNull()
    expect(report.next).toEqual({ ...current, last_reported_at: at(15) })
  })

  test('when a newer report changes something, then it is the update with its event', () => {
    const report = applyReport(make(), { message: 'moved', ...reported(1) }, at(2))
    expect(report.change).toMatchObject({ type: 'status.progress', next: { message: 'moved', version: 2 } })
    expect(report.next).toBe(report.change!.next)
  })
})

describe('applyCreate and applyRemove', () => {
  test('when a status is created, then its event is status.created with no changes', () => {
    const change = applyCreate({ status_id: 'a', status: 'processing' }, t0)
    expect(change).toMatchObject({
      type: 'status.created',
      changes: {},
      next: { version: 1, started_at: t0 },
    })
  })

  test('when a status is deleted, then its event carries the last record one version on', () => {
    const current = make({ version: 4 })
    const change = applyRemove(current, at(9))
    expect(change).toEqual({
      type: 'status.deleted',
      changes: {},
      next: { ...current, version: 5, updated_at: at(9) },
    })
  })
})
