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
  MAX_ESTIMATE_MS,
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

  test('when a newer report changes nothing visible, then only last_reported_at and the heartbeat move: no version, no event', () => {
    const current = make({ last_reported_at: at(10), message: 'same' })
    const report = applyReport(current, { message: 'same', ...reported(15) }, at(20))
    expect(report.applied).toBe(true)
    expect(report.change).toBeNull()
    expect(report.next).toEqual({ ...current, last_reported_at: at(15), last_heartbeat_at: at(20) })
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

// Edges the mutation run (npm run mutation) found no unit test pinning down.
describe('steps and estimates at their edges', () => {
  test('when steps come without a total, or with a total of zero, then no progress is derived from them', () => {
    expect(createStatus({ status_id: 'a', steps_completed: 3 }, t0).progress_percentage).toBe(0)
    expect(createStatus({ status_id: 'b', steps_completed: 0, steps_total: 0 }, t0).progress_percentage).toBe(
      0,
    )
  })

  test('when an update gives a total but no steps done, then the progress stays as it was', () => {
    const current = make({ status: 'processing', started_at: t0, progress_percentage: 40 })
    expect(applyUpdate(current, { steps_total: 10 }, at(1))!.next.progress_percentage).toBe(40)
  })

  test('when an update gives no steps, then the stored steps do not override the stored progress', () => {
    const current = createStatus(
      { status_id: 'a', steps_completed: 1, steps_total: 4, progress_percentage: 50 },
      t0,
    )
    expect(applyUpdate(current, { message: 'still going' }, at(1))!.next.progress_percentage).toBe(50)
  })

  test('when a live status is at 100 %, then it has no estimate (it is done as far as progress goes)', () => {
    const s = make({ status: 'processing', started_at: t0, progress_percentage: 100 })
    expect(estimateCompletion(s, at(60))).toBeNull()
  })
})

describe('the rules at their edges', () => {
  const processing = (overrides: Partial<StoredStatus> = {}) =>
    make({ status: 'processing', started_at: t0, progress_percentage: 50, ...overrides })
  const codeOf = (fn: () => unknown) => {
    try {
      fn()
    } catch (err) {
      return (err as { code: string; errors?: unknown }).code
    }
    return 'no error'
  }

  test('a created status keeps every given field, and the 100-year cap is 100 Julian years', () => {
    const s = createStatus(
      { status_id: 'a', kind: 'k', resource_id: 'r', message: 'm', metadata: { x: 1 }, tags: ['t'] },
      t0,
    )
    expect(s).toMatchObject({ kind: 'k', resource_id: 'r', message: 'm', metadata: { x: 1 }, tags: ['t'] })
    expect(createStatus({ status_id: 'b' }, t0)).toMatchObject({
      resource_id: null,
      message: null,
      kind: null,
    })
    expect(MAX_ESTIMATE_MS).toBe(3_155_760_000_000)
  })

  test('steps: completed may equal the total but not exceed it; without both there is no derived progress', () => {
    expect(createStatus({ status_id: 'a', steps_completed: 4, steps_total: 4 }, t0).progress_percentage).toBe(
      100,
    )
    let thrown: unknown
    try {
      createStatus({ status_id: 'a', steps_completed: 5, steps_total: 4 }, t0)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({
      code: 'validation-failed',
      errors: [{ path: 'steps_completed', message: 'must not exceed steps_total' }],
    })
    expect(createStatus({ status_id: 'a', steps_completed: 3 }, t0).progress_percentage).toBe(0)
    expect(createStatus({ status_id: 'a', steps_total: 3 }, t0).progress_percentage).toBe(0)
    expect(createStatus({ status_id: 'a', steps_completed: 0, steps_total: 0 }, t0).progress_percentage).toBe(
      0,
    )
  })

  test('the estimate: none at 0 % or 100 % or when finished; from started_at; up to exactly the cap', () => {
    expect(estimateCompletion(processing({ progress_percentage: 0 }), at(10))).toBeNull()
    expect(estimateCompletion(processing({ progress_percentage: 100 }), at(10))).toBeNull()
    expect(estimateCompletion(processing({ status: 'failed' }), at(10))).toBeNull()
    // Created at t0, started 10 s later, half done 10 s after that: 10 s to go.
    expect(estimateCompletion(processing({ started_at: at(10) }), at(20))).toEqual(at(30))
    const cap = new Date(t0.getTime() + MAX_ESTIMATE_MS)
    expect(estimateCompletion(processing(), cap)).toEqual(new Date(cap.getTime() + MAX_ESTIMATE_MS))
    expect(estimateCompletion(processing({ progress_percentage: 1e-9 }), at(10))).toBeNull()
  })

  test('going back to work keeps the first started_at', () => {
    const waiting = make({ status: 'retry_pending', started_at: t0 })
    expect(applyUpdate(waiting, { new_status: 'processing' }, at(5))!.next.started_at).toEqual(t0)
  })

  test('changes name what moved by value, never last_reported_at, version or updated_at', () => {
    const change = applyUpdate(
      processing({ metadata: { a: 1 }, tags: ['x'] }),
      { progress_percentage: 60, metadata: { a: 1 }, tags: ['y'], reported_at: at(3) },
      at(5),
    )!
    expect(Object.keys(change.changes).sort()).toEqual([
      'estimated_completion_at',
      'progress_percentage',
      'tags',
    ])
    expect(change.changes.tags).toEqual([['x'], ['y']])
    expect(change.next.last_reported_at).toEqual(at(3))
    expect(change.type).toBe('status.updated')
  })

  test('an update that changes nothing, or only what follows from time, is no change', () => {
    const s = processing({ message: 'm', metadata: { a: 1 } })
    expect(applyUpdate(s, { progress_percentage: 50, message: 'm', metadata: { a: 1 } }, at(5))).toBeNull()
    // The estimate moves with the clock, but that alone is not an update.
    expect(estimateCompletion(s, at(5))).not.toEqual(estimateCompletion(s, at(9)))
    expect(applyUpdate({ ...s, estimated_completion_at: estimateCompletion(s, at(5)) }, {}, at(9))).toBeNull()
  })

  test('a finished status takes no different progress, steps or message, but the same ones are no change', () => {
    const done = make({
      status: 'completed',
      progress_percentage: 100,
      steps_completed: 2,
      steps_total: 2,
      message: 'ok',
    })
    expect(
      applyUpdate(
        done,
        { progress_percentage: 100, steps_completed: 2, steps_total: 2, message: 'ok' },
        at(1),
      ),
    ).toBeNull()
    expect(codeOf(() => applyUpdate(done, { progress_percentage: 90 }, at(1)))).toBe('status-terminal')
    expect(codeOf(() => applyUpdate(done, { steps_completed: 1 }, at(1)))).toBe('status-terminal')
    expect(codeOf(() => applyUpdate(done, { steps_total: 3 }, at(1)))).toBe('status-terminal')
    expect(codeOf(() => applyUpdate(done, { message: 'other' }, at(1)))).toBe('status-terminal')
  })

  test('steps alone move progress and are a progress event; fields not given are kept', () => {
    const s = processing({ steps_completed: 1, steps_total: 4, progress_percentage: 25, message: 'keep' })
    const byTotal = applyUpdate(s, { steps_total: 2 }, at(1))!
    expect(byTotal.next).toMatchObject({ steps_total: 2, progress_percentage: 50, message: 'keep' })
    expect(byTotal.type).toBe('status.progress')
    const byDone = applyUpdate(s, { steps_completed: 3 }, at(1))!
    expect(byDone.next).toMatchObject({ steps_completed: 3, progress_percentage: 75, last_reported_at: null })
    expect(byDone.type).toBe('status.progress')
  })

  test('an error retries while retries remain, up to and including the last one', () => {
    const s = processing({ retry_count: 2, max_retries: 3 })
    expect(applyError(s, { message: 'x' }, true, at(1)).next.status).toBe('retry_pending')
    expect(applyError({ ...s, retry_count: 3 }, { message: 'x' }, true, at(1)).next.status).toBe('failed')
  })

  test('a cancel keeps everything but what cancelling changes', () => {
    const s = processing({ kind: 'k', tags: ['t'], message: 'm' })
    expect(applyCancel(s, at(1)).next).toMatchObject({
      kind: 'k',
      tags: ['t'],
      message: 'm',
      status: 'cancelled',
    })
  })

  test('reports: an older one is ignored, an equal one applies, a newer no-op moves last_reported_at only', () => {
    const s = processing({ last_reported_at: at(5) })
    expect(applyReport(s, { progress_percentage: 70, reported_at: at(4) }, at(9))).toMatchObject({
      applied: false,
      change: null,
    })
    const equal = applyReport(s, { progress_percentage: 70, reported_at: at(5) }, at(9))
    expect(equal.applied).toBe(true)
    expect(equal.change?.next.progress_percentage).toBe(70)
    const newer = applyReport(s, { progress_percentage: 50, reported_at: at(6) }, at(9))
    expect(newer).toMatchObject({ applied: true, change: null })
    expect(newer.next.last_reported_at).toEqual(at(6))
    expect(newer.next.version).toBe(s.version)
    // A no-op that is not older is still an accepted write: a heartbeat, and nothing else.
    expect(applyReport(s, { progress_percentage: 50, reported_at: at(5) }, at(9)).next).toEqual({
      ...s,
      last_heartbeat_at: at(9),
    })
    expect(applyReport(s, { progress_percentage: 50 }, at(9)).next).toEqual({
      ...s,
      last_heartbeat_at: at(9),
    })
    const first = processing()
    expect(
      applyReport(first, { progress_percentage: 50, reported_at: at(1) }, at(9)).next.last_reported_at,
    ).toEqual(at(1))
  })
})
