import type { StatusCreate } from '../../src/http/schemas/status'
import { SPEC_TERMINAL, SPEC_TRANSITIONS } from '../helpers/spec'
import { expectProblem, statusApi, type StatusApi } from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'

type Status = NonNullable<StatusCreate['status']>

const LEGAL: Record<Status, Status[]> = SPEC_TRANSITIONS
const ALL = Object.keys(LEGAL) as Status[]
const TERMINAL: Status[] = SPEC_TERMINAL
const legalPairs = ALL.flatMap((from) => LEGAL[from].map((to) => [from, to] as const))
const illegalPairs = ALL.flatMap((from) =>
  ALL.filter((to) => to !== from && !LEGAL[from].includes(to)).map((to) => [from, to] as const),
)

let t: TestApp
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp()
  api = statusApi(t, await t.makeKey())
})
afterAll(() => t.close())

const withoutApplied = ({ applied: _applied, ...record }: Record<string, unknown>) => record

describe('PUT /api/status/:id: each updatable field', () => {
  test.each([
    {
      field: 'progress_percentage',
      body: { progress_percentage: 42.5 },
      expected: { progress_percentage: 42.5 },
      type: 'status.progress',
    },
    {
      field: 'message',
      body: { message: 'step 2: encoding' },
      expected: { message: 'step 2: encoding' },
      type: 'status.progress',
    },
    {
      field: 'steps_completed',
      body: { steps_completed: 2, steps_total: 4 },
      expected: { steps_completed: 2, steps_total: 4, progress_percentage: 50 },
      type: 'status.progress',
    },
    {
      field: 'metadata',
      body: { metadata: { b: 2 } },
      expected: { metadata: { b: 2 } },
      type: 'status.updated',
    },
    { field: 'tags', body: { tags: ['x', 'y'] }, expected: { tags: ['x', 'y'] }, type: 'status.updated' },
    { field: 'priority', body: { priority: 'high' }, expected: { priority: 'high' }, type: 'status.updated' },
    {
      field: 'status',
      body: { new_status: 'completed' },
      expected: { status: 'completed', progress_percentage: 100 },
      type: 'status.updated',
    },
  ])(
    'when $field is updated, then 200 with version 2, ETag "2" and a $type event',
    async ({ field, body, expected, type }) => {
      const created = await api.createOk({ status: 'processing', metadata: { a: 1 }, tags: ['old'] })

      const res = await api.update(created.status_id, body)

      expect(res.status).toBe(200)
      expect(res.headers.etag).toBe('"2"')
      expect(res.body).toMatchObject({ ...expected, version: 2, applied: true })
      expect((await api.get(created.status_id)).body).toEqual(withoutApplied(res.body))
      const events = await api.allHistory(created.status_id)
      expect(events).toHaveLength(2)
      expect(events[1]).toMatchObject({ type, version: 2, status: withoutApplied(res.body) })
      expect(events[1]!.changes[field]).toEqual([
        (created as unknown as Record<string, unknown>)[field],
        res.body[field],
      ])
    },
  )

  test('when metadata is updated, then it replaces the old object rather than merging into it', async () => {
    const created = await api.createOk({ metadata: { keep: false, a: 1 } })

    const updated = await api.updateOk(created.status_id, { metadata: { b: 2 } })

    expect(updated.metadata).toEqual({ b: 2 })
  })

  test('when only steps_completed changes, then progress is derived from the stored steps_total', async () => {
    const created = await api.createOk({ status: 'processing', steps_completed: 1, steps_total: 8 })

    const updated = await api.updateOk(created.status_id, { steps_completed: 6 })

    expect(updated).toMatchObject({ steps_completed: 6, steps_total: 8, progress_percentage: 75 })
  })

  test('when steps and progress_percentage are both sent, then the explicit progress wins', async () => {
    const created = await api.createOk({ status: 'processing' })

    const updated = await api.updateOk(created.status_id, {
      steps_completed: 1,
      steps_total: 4,
      progress_percentage: 80,
    })

    expect(updated.progress_percentage).toBe(80)
  })

  test('when several fields change at once, then one event records all of their changes', async () => {
    const created = await api.createOk({ status: 'processing', priority: 'low' })

    await api.updateOk(created.status_id, {
      progress_percentage: 30,
      message: 'halfway-ish',
      priority: 'high',
    })

    const events = await api.allHistory(created.status_id)
    expect(events).toHaveLength(2)
    expect(events[1]).toMatchObject({
      type: 'status.updated',
      changes: { progress_percentage: [0, 30], message: [null, 'halfway-ish'], priority: ['low', 'high'] },
    })
  })

  test('when a status is updated repeatedly, then the version and ETag go up by one each time', async () => {
    const created = await api.createOk({ status: 'processing' })

    const etags: string[] = []
    for (const progress of [10, 20, 30]) {
      const res = await api.update(created.status_id, { progress_percentage: progress })
      etags.push(res.headers.etag!)
    }

    expect(etags).toEqual(['"2"', '"3"', '"4"'])
    expect((await api.allHistory(created.status_id)).map((e) => e.version)).toEqual([1, 2, 3, 4])
  })

  test('when the id is unknown, then 404 status-not-found', async () => {
    const res = await api.update('no-such-status', { progress_percentage: 5 })

    expectProblem(res, 404, 'status-not-found')
  })
})

describe('PUT /api/status/:id: transitions', () => {
  test.each(legalPairs)('when %s moves to %s, then 200 and the new status is stored', async (from, to) => {
    const created = await api.createOk({ status: from })

    const res = await api.update(created.status_id, { new_status: to })

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ status: to, version: 2 })
    const [, event] = await api.allHistory(created.status_id)
    expect(event).toMatchObject({
      type: to === 'cancelled' ? 'status.cancelled' : 'status.updated',
      changes: { status: [from, to] },
    })
    expect(res.body.completed_at).toBe(TERMINAL.includes(to) ? res.body.updated_at : null)
    if (to === 'completed') expect(res.body.progress_percentage).toBe(100)
    if (to === 'starting' || to === 'processing') {
      expect(res.body.started_at).toBe(created.started_at ?? res.body.updated_at)
    } else {
      expect(res.body.started_at).toBe(created.started_at)
    }
  })

  test.each(illegalPairs)(
    'when %s moves to %s, then 409 invalid-transition and nothing changes',
    async (from, to) => {
      const created = await api.createOk({ status: from })
      const before = await api.snapshot(created.status_id)

      const res = await api.update(created.status_id, { new_status: to })

      expectProblem(res, 409, 'invalid-transition', { from, to })
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  test('when the current status is set again with progress, then it is a status.progress update, not a transition', async () => {
    const created = await api.createOk({ status: 'processing' })

    const updated = await api.updateOk(created.status_id, {
      new_status: 'processing',
      progress_percentage: 60,
    })

    expect(updated).toMatchObject({ status: 'processing', progress_percentage: 60, version: 2 })
    const [, event] = await api.allHistory(created.status_id)
    expect(event!.type).toBe('status.progress')
    expect(event!.changes).not.toHaveProperty('status')
  })

  test('when the current status is set again with nothing else, then the version stays and no event is written', async () => {
    const created = await api.createOk({ status: 'processing' })

    const res = await api.update(created.status_id, { new_status: 'processing' })

    expect(res.status).toBe(200)
    expect(res.headers.etag).toBe('"1"')
    expect(res.body).toMatchObject({ version: 1, applied: true })
    expect(await api.allHistory(created.status_id)).toHaveLength(1)
  })

  test('when an update repeats the stored values, then it is answered 200 without a new version or event: a heartbeat only', async () => {
    const created = await api.createOk({
      status: 'processing',
      message: 'same',
      progress_percentage: 10,
      tags: ['a'],
    })
    const before = await api.snapshot(created.status_id)

    const res = await api.update(created.status_id, { message: 'same', progress_percentage: 10, tags: ['a'] })

    expect(res.status).toBe(200)
    // Every accepted write counts as a heartbeat (SPEC §11); nothing else moves.
    const beaten = { ...before.record, last_heartbeat_at: expect.any(String) }
    expect(withoutApplied(res.body)).toEqual(beaten)
    expect(await api.snapshot(created.status_id)).toEqual({ ...before, record: beaten })
  })

  test('when a retried status starts again, then started_at keeps the first start time', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { new_status: 'retry_pending' })

    const restarted = await api.updateOk(created.status_id, { new_status: 'starting' })

    expect(restarted.started_at).toBe(created.started_at)
  })

  test('when moving to completed with a lower progress in the same body, then progress is still forced to 100', async () => {
    const created = await api.createOk({ status: 'processing' })

    const updated = await api.updateOk(created.status_id, {
      new_status: 'completed',
      progress_percentage: 50,
    })

    expect(updated.progress_percentage).toBe(100)
  })
})

describe('PUT /api/status/:id: terminal statuses', () => {
  test.each(TERMINAL)(
    'when a %s status is moved to processing, then 409 invalid-transition',
    async (status) => {
      const created = await api.createOk({ status })
      const before = await api.snapshot(created.status_id)

      const res = await api.update(created.status_id, { new_status: 'processing' })

      expectProblem(res, 409, 'invalid-transition', { from: status, to: 'processing' })
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  test.each([
    ['completed', { progress_percentage: 50 }],
    ['failed', { message: 'still trying' }],
    ['cancelled', { steps_completed: 1 }],
    ['completed', { steps_total: 9 }],
  ] as const)(
    'when a %s status gets %j, then 409 status-terminal and nothing changes',
    async (status, body) => {
      const created = await api.createOk({ status })
      const before = await api.snapshot(created.status_id)

      const res = await api.update(created.status_id, body)

      expectProblem(res, 409, 'status-terminal', { current_status: status })
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  // Documented choice: bookkeeping fields stay editable after the work ended (e.g. tagging a failed job).
  test.each([
    ['completed', { metadata: { reviewed: true } }],
    ['failed', { tags: ['post-mortem'] }],
    ['cancelled', { priority: 'low' }],
  ] as const)(
    'when a %s status gets %j, then it is applied as a status.updated event',
    async (status, body) => {
      const created = await api.createOk({ status })

      const res = await api.update(created.status_id, body)

      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ ...body, status, version: 2, completed_at: created.completed_at })
      const [, event] = await api.allHistory(created.status_id)
      expect(event!.type).toBe('status.updated')
    },
  )

  test('when a completed status is sent its own status and progress again with new tags, then only the tags change', async () => {
    const created = await api.createOk({ status: 'completed' })

    const res = await api.update(created.status_id, {
      new_status: 'completed',
      progress_percentage: 100,
      tags: ['done'],
    })

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      status: 'completed',
      progress_percentage: 100,
      tags: ['done'],
      version: 2,
    })
  })
})

describe('PUT /api/status/:id: optimistic concurrency', () => {
  test.each(['"1"', 'W/"1"', '1', '*'])(
    'when If-Match is %s and the status is at version 1, then the update applies',
    async (ifMatch) => {
      const created = await api.createOk({ status: 'processing' })

      const res = await api.update(created.status_id, { progress_percentage: 5 }, { 'If-Match': ifMatch })

      expect(res.status).toBe(200)
      expect(res.body.version).toBe(2)
    },
  )

  test('when If-Match names an older version, then 412 version-mismatch and nothing changes', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { progress_percentage: 5 })
    const before = await api.snapshot(created.status_id)

    const res = await api.update(created.status_id, { progress_percentage: 9 }, { 'If-Match': '"1"' })

    expectProblem(res, 412, 'version-mismatch', { expected_version: 1, current_version: 2 })
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test('when expected_version in the body matches, then the update applies', async () => {
    const created = await api.createOk({ status: 'processing' })

    const res = await api.update(created.status_id, { progress_percentage: 5, expected_version: 1 })

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ version: 2, progress_percentage: 5 })
    expect(res.body).not.toHaveProperty('expected_version')
  })

  test('when expected_version in the body does not match, then 412 version-mismatch and nothing changes', async () => {
    const created = await api.createOk({ status: 'processing' })
    const before = await api.snapshot(created.status_id)

    const res = await api.update(created.status_id, { progress_percentage: 5, expected_version: 3 })

    expectProblem(res, 412, 'version-mismatch', { expected_version: 3, current_version: 1 })
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test('when If-Match and expected_version agree, then the update applies', async () => {
    const created = await api.createOk({ status: 'processing' })

    const res = await api.update(
      created.status_id,
      { progress_percentage: 5, expected_version: 1 },
      { 'If-Match': '"1"' },
    )

    expect(res.status).toBe(200)
  })

  test('when five writers race with If-Match "1", then exactly one wins and the others get 412', async () => {
    const created = await api.createOk({ status: 'processing' })

    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        api.update(created.status_id, { message: `writer ${n}` }, { 'If-Match': '"1"' }),
      ),
    )

    expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412, 412, 412])
    expect(await api.allHistory(created.status_id)).toHaveLength(2)
  })

  test('when 20 updates hit one status at once, then all succeed and the final version is 21 with 21 events', async () => {
    const created = await api.createOk({ status: 'processing' })

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, n) => api.update(created.status_id, { message: `update ${n}` })),
    )

    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(results.map((r) => r.body.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, n) => n + 2),
    )
    expect((await api.get(created.status_id)).body.version).toBe(21)
    const events = await api.allHistory(created.status_id)
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 21 }, (_, n) => n + 1))
    expect(new Set(events.map((e) => e.event_id)).size).toBe(21)
  })
})

describe('PUT /api/status/:id: reported_at (out-of-order delivery)', () => {
  test('when an update is older than the last applied reported_at, then 200 applied:false and the record is unchanged', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { progress_percentage: 50, reported_at: '2030-01-01T10:00:00Z' })
    const before = await api.snapshot(created.status_id)

    const res = await api.update(created.status_id, {
      progress_percentage: 20,
      reported_at: '2030-01-01T09:59:59.999Z',
    })

    expect(res.status).toBe(200)
    expect(res.headers.etag).toBe('"2"')
    expect(res.body).toEqual({ ...before.record, applied: false })
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test('when an older report would change the status, then the status does not move backwards', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { new_status: 'completed', reported_at: '2030-01-01T10:00:00Z' })

    const res = await api.update(created.status_id, {
      new_status: 'processing',
      progress_percentage: 70,
      reported_at: '2030-01-01T09:00:00Z',
    })

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ status: 'completed', progress_percentage: 100, applied: false })
  })

  test('when an update carries the same reported_at as the last applied one, then it applies', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { progress_percentage: 50, reported_at: '2030-01-01T10:00:00Z' })

    const res = await api.update(created.status_id, {
      progress_percentage: 55,
      reported_at: '2030-01-01T10:00:00Z',
    })

    expect(res.body).toMatchObject({ progress_percentage: 55, version: 3, applied: true })
  })

  test('when an update carries a newer reported_at, then it applies', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { progress_percentage: 50, reported_at: '2030-01-01T10:00:00Z' })

    const res = await api.update(created.status_id, {
      progress_percentage: 60,
      reported_at: '2030-01-01T10:00:01Z',
    })

    expect(res.body).toMatchObject({ progress_percentage: 60, version: 3, applied: true })
  })

  test('when reported_at values carry different offsets, then they are compared as instants', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, {
      progress_percentage: 50,
      reported_at: '2030-01-01T12:00:00+02:00',
    })

    const older = await api.update(created.status_id, {
      progress_percentage: 10,
      reported_at: '2030-01-01T10:30:00+01:00',
    })
    const newer = await api.update(created.status_id, {
      progress_percentage: 70,
      reported_at: '2030-01-01T10:00:01Z',
    })

    expect(older.body).toMatchObject({ progress_percentage: 50, applied: false })
    expect(newer.body).toMatchObject({ progress_percentage: 70, applied: true })
  })

  test('when an update without reported_at follows a reported one, then it applies', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { progress_percentage: 50, reported_at: '2030-01-01T10:00:00Z' })

    const res = await api.update(created.status_id, { progress_percentage: 51 })

    expect(res.body).toMatchObject({ progress_percentage: 51, applied: true })
  })

  test('when a newer report repeats the stored values, then a later report older than it is still ignored', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { progress_percentage: 50, reported_at: '2030-01-01T10:00:00Z' })
    await api.updateOk(created.status_id, { progress_percentage: 50, reported_at: '2030-01-01T10:00:10Z' })

    const res = await api.update(created.status_id, {
      progress_percentage: 40,
      reported_at: '2030-01-01T10:00:05Z',
    })

    expect(res.body).toMatchObject({ progress_percentage: 50, version: 2, applied: false })
  })
})
