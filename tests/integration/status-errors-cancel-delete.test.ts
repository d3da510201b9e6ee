import { expectProblem, freshTenantApi, statusApi, type StatusApi } from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'

let t: TestApp
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp()
  api = statusApi(t, await t.makeKey())
})
afterAll(() => t.close())

describe('POST /api/status/:id/errors', () => {
  test('when error_info is a string, then it is stored as { message } and the status fails without retry', async () => {
    const created = await api.createOk({ status: 'processing' })

    const res = await api.recordError(created.status_id, { error_info: 'disk full' })

    expect(res.status).toBe(200)
    expect(res.headers.etag).toBe('"2"')
    expect(res.body).toMatchObject({
      error_info: { message: 'disk full' },
      retry_count: 1,
      status: 'failed',
      version: 2,
      completed_at: res.body.updated_at,
    })
    expect((await api.get(created.status_id)).body).toEqual(res.body)
  })

  test('when error_info is an object with code and details, then all of it is stored', async () => {
    const created = await api.createOk({ status: 'processing' })
    const errorInfo = {
      message: 'codec not found',
      code: 'E_CODEC',
      details: { codec: 'av1', attempt: [1, 2] },
    }

    const res = await api.recordError(created.status_id, { error_info: errorInfo, should_retry: true })

    expect(res.status).toBe(200)
    expect(res.body.error_info).toEqual(errorInfo)
  })

  test('when an error is recorded, then a status.error event carries the changes', async () => {
    const created = await api.createOk({ status: 'processing' })

    await api.recordError(created.status_id, { error_info: 'timeout', should_retry: true })

    const [, event] = await api.allHistory(created.status_id)
    expect(event).toMatchObject({
      type: 'status.error',
      version: 2,
      changes: {
        error_info: [null, { message: 'timeout' }],
        retry_count: [0, 1],
        status: ['processing', 'retry_pending'],
      },
    })
  })

  test('when should_retry is true within max_retries, then retry_pending until the retries run out, then failed', async () => {
    const created = await api.createOk({ status: 'processing', max_retries: 2 })
    const id = created.status_id

    const first = await api.recordError(id, { error_info: 'e1', should_retry: true })
    await api.updateOk(id, { new_status: 'processing' })
    const second = await api.recordError(id, { error_info: 'e2', should_retry: true })
    await api.updateOk(id, { new_status: 'processing' })
    const third = await api.recordError(id, { error_info: 'e3', should_retry: true })

    expect([first.body, second.body, third.body].map((b) => [b.status, b.retry_count])).toEqual([
      ['retry_pending', 1],
      ['retry_pending', 2],
      ['failed', 3],
    ])
    expect(third.body.completed_at).toBe(third.body.updated_at)
    expect(third.body.error_info).toEqual({ message: 'e3' })
  })

  test('when a retry_pending status gets another retryable error, then it stays retry_pending with one more retry', async () => {
    const created = await api.createOk({ status: 'retry_pending', max_retries: 3 })

    const res = await api.recordError(created.status_id, { error_info: 'again', should_retry: true })

    expect(res.body).toMatchObject({ status: 'retry_pending', retry_count: 1, version: 2 })
  })

  test('when max_retries is 0, then even a retryable error fails the status', async () => {
    const created = await api.createOk({ status: 'starting', max_retries: 0 })

    const res = await api.recordError(created.status_id, {
      error_info: 'no retries allowed',
      should_retry: true,
    })

    expect(res.body).toMatchObject({ status: 'failed', retry_count: 1 })
  })

  test('when should_retry is false, then the status fails at once even with retries left', async () => {
    const created = await api.createOk({ status: 'processing', max_retries: 5 })

    const res = await api.recordError(created.status_id, { error_info: 'fatal', should_retry: false })

    expect(res.body).toMatchObject({ status: 'failed', retry_count: 1 })
  })

  test('when a pending status gets a non-retryable error, then it fails', async () => {
    const created = await api.createOk({ status: 'pending' })

    const res = await api.recordError(created.status_id, { error_info: 'bad input' })

    expect(res.body).toMatchObject({ status: 'failed', retry_count: 1 })
  })

  test('when a pending status gets a retryable error, then 409 invalid-transition (pending cannot go to retry_pending) and nothing changes', async () => {
    const created = await api.createOk({ status: 'pending' })
    const before = await api.snapshot(created.status_id)

    const res = await api.recordError(created.status_id, { error_info: 'flaky', should_retry: true })

    expectProblem(res, 409, 'invalid-transition', { from: 'pending', to: 'retry_pending' })
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test.each(['completed', 'failed', 'cancelled'] as const)(
    'when a %s status gets an error, then 409 status-terminal and nothing changes',
    async (status) => {
      const created = await api.createOk({ status })
      const before = await api.snapshot(created.status_id)

      const res = await api.recordError(created.status_id, { error_info: 'late error', should_retry: true })

      expectProblem(res, 409, 'status-terminal', { current_status: status })
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  test('when the id is unknown, then 404 status-not-found', async () => {
    const res = await api.recordError('no-such-status', { error_info: 'x' })

    expectProblem(res, 404, 'status-not-found')
  })
})

describe('POST /api/status/:id/cancel', () => {
  test.each(['pending', 'starting', 'processing', 'retry_pending'] as const)(
    'when a %s status is cancelled, then 200 cancelled with completed_at and a status.cancelled event',
    async (status) => {
      const created = await api.createOk({ status, progress_percentage: 30 })

      const res = await api.cancel(created.status_id)

      expect(res.status).toBe(200)
      expect(res.headers.etag).toBe('"2"')
      expect(res.body).toMatchObject({ status: 'cancelled', version: 2, progress_percentage: 30 })
      expect(res.body.completed_at).toBe(res.body.updated_at)
      expect(res.body.estimated_completion_at).toBeNull()
      const [, event] = await api.allHistory(created.status_id)
      expect(event).toMatchObject({ type: 'status.cancelled', changes: { status: [status, 'cancelled'] } })
    },
  )

  test.each(['completed', 'failed', 'cancelled'] as const)(
    'when a %s status is cancelled, then 409 invalid-transition and nothing changes',
    async (status) => {
      const created = await api.createOk({ status })
      const before = await api.snapshot(created.status_id)

      const res = await api.cancel(created.status_id)

      expectProblem(res, 409, 'invalid-transition', { from: status, to: 'cancelled' })
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  test('when the id is unknown, then 404 status-not-found', async () => {
    const res = await api.cancel('no-such-status')

    expectProblem(res, 404, 'status-not-found')
  })
})

describe('DELETE /api/status/:id', () => {
  test('when a status is deleted, then 204 with no body and a later GET is 404', async () => {
    const created = await api.createOk()

    const res = await api.remove(created.status_id)

    expect(res.status).toBe(204)
    expect(res.text ?? '').toBe('')
    expectProblem(await api.get(created.status_id), 404, 'status-not-found')
  })

  test('when a status is deleted, then a status.deleted event with the last record and the next version is in the feed', async () => {
    const tenant = await freshTenantApi(t, 'delete')
    const created = await tenant.createOk({ status: 'processing' })
    await tenant.updateOk(created.status_id, { progress_percentage: 40 })

    await tenant.remove(created.status_id)

    const events = await tenant.allEvents()
    expect(events.map((e) => e.type)).toEqual(['status.created', 'status.progress', 'status.deleted'])
    expect(events[2]).toMatchObject({
      status_id: created.status_id,
      version: 3,
      seq: 3,
      changes: {},
      status: { status_id: created.status_id, progress_percentage: 40, version: 3 },
    })
  })

  test('when a status was deleted, then its history is still readable and ends with the deletion', async () => {
    const created = await api.createOk()
    await api.remove(created.status_id)

    const res = await api.history(created.status_id)

    expect(res.status).toBe(200)
    expect(res.body.items.map((e: { type: string }) => e.type)).toEqual(['status.created', 'status.deleted'])
  })

  test('when a deleted status is deleted again, then 404 and no second event', async () => {
    const created = await api.createOk()
    await api.remove(created.status_id)

    const res = await api.remove(created.status_id)

    expectProblem(res, 404, 'status-not-found')
    expect(await api.allHistory(created.status_id)).toHaveLength(2)
  })

  test('when several clients delete the same status at once, then one gets 204, the rest 404, and one event is written', async () => {
    const created = await api.createOk()

    const results = await Promise.all([1, 2, 3].map(() => api.remove(created.status_id)))

    expect(results.map((r) => r.status).sort()).toEqual([204, 404, 404])
    expect((await api.allHistory(created.status_id)).map((e) => e.type)).toEqual([
      'status.created',
      'status.deleted',
    ])
  })

  test('when the id is unknown, then 404 status-not-found', async () => {
    const res = await api.remove('no-such-status')

    expectProblem(res, 404, 'status-not-found')
  })

  test.each([
    ['update', (id: string) => api.update(id, { progress_percentage: 1 })],
    ['error', (id: string) => api.recordError(id, { error_info: 'x' })],
    ['cancel', (id: string) => api.cancel(id)],
  ] as const)('when a deleted status gets an %s, then 404', async (_name, send) => {
    const created = await api.createOk()
    await api.remove(created.status_id)

    const res = await send(created.status_id)

    expectProblem(res, 404, 'status-not-found')
  })
})
