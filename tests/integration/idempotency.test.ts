import { randomUUID } from 'node:crypto'
import { makeStatus } from '../helpers/factories'
import { expectProblem, freshTenantApi, statusApi, type StatusApi } from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'

// Keys live for one hour here; the clock is moved by hand to expire them.
const TTL_MS = 3_600_000
let now = Date.parse('2031-06-01T08:00:00.000Z')
let t: TestApp
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp({ clock: () => new Date(now), idempotencyTtlHours: 1 })
  api = statusApi(t, await t.makeKey())
})
afterAll(() => t.close())

const idempotent = (key: string = randomUUID()) => ({ 'Idempotency-Key': key })
const withoutId = () => {
  const { status_id: _omitted, ...body } = makeStatus()
  return body
}

describe('Idempotency-Key on POST /api/status', () => {
  test('when the same key and body are sent twice, then the second answer replays the first, server id included', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const body = withoutId()
    const headers = idempotent()

    const first = await tenant.create(body, headers)
    const second = await tenant.create(body, headers)

    expect(first.status).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    expect(second.status).toBe(201)
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(second.body).toEqual(first.body)
    expect(second.headers.location).toBe(first.headers.location)
    expect(second.headers.etag).toBe(first.headers.etag)
    expect((await tenant.stats()).body.total).toBe(1)
    expect(await tenant.allEvents()).toHaveLength(1)
  })

  test('when the same key arrives several times at once, then exactly one status is created and the rest are replays', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const body = withoutId()
    const headers = idempotent()

    const results = await Promise.all([1, 2, 3, 4, 5].map(() => tenant.create(body, headers)))

    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201])
    expect(new Set(results.map((r) => r.body.status_id)).size).toBe(1)
    expect(results.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(4)
    expect((await tenant.stats()).body.total).toBe(1)
  })

  test('when the same body is resent with its fields in another order, then it still counts as the same request', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const headers = idempotent()
    const first = await tenant.create({ kind: 'video.transcode', priority: 'high', message: 'm' }, headers)

    const second = await tenant.create({ message: 'm', priority: 'high', kind: 'video.transcode' }, headers)

    expect(second.status).toBe(201)
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(second.body.status_id).toBe(first.body.status_id)
  })

  test('when the same key comes with another body, then 422 idempotency-key-reused and nothing more is created', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const headers = idempotent()
    await tenant.create({ ...withoutId(), message: 'first' }, headers)

    const res = await tenant.create({ ...withoutId(), message: 'second' }, headers)

    expectProblem(res, 422, 'idempotency-key-reused')
    expect((await tenant.stats()).body.total).toBe(1)
    expect(await tenant.allEvents()).toHaveLength(1)
  })

  test('when two tenants use the same key, then each gets its own status', async () => {
    const mine = await freshTenantApi(t, 'idem')
    const other = statusApi(t, await t.makeKey('other-tenant'))
    const body = withoutId()
    const headers = idempotent()

    const a = await mine.create(body, headers)
    const b = await other.create(body, headers)

    expect([a.status, b.status]).toEqual([201, 201])
    expect(b.headers['idempotent-replayed']).toBeUndefined()
    expect(b.body.status_id).not.toBe(a.body.status_id)
    expectProblem(await mine.get(b.body.status_id), 404, 'status-not-found')
  })

  test('when a keyed create failed with 409, then the key is not used up and a retry after fixing the cause runs', async () => {
    const existing = await api.createOk()
    const headers = idempotent()
    const body = makeStatus({ status_id: existing.status_id })
    const failed = await api.create(body, headers)
    await api.remove(existing.status_id)

    const retried = await api.create(body, headers)

    expectProblem(failed, 409, 'status-already-exists')
    expect(retried.status).toBe(201)
    expect(retried.headers['idempotent-replayed']).toBeUndefined()
    expect(retried.body.version).toBe(1)
  })

  test('when the key has expired, then the same request runs again and creates a second status', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const body = withoutId()
    const headers = idempotent()
    const first = await tenant.create(body, headers)
    now += TTL_MS + 1

    const second = await tenant.create(body, headers)

    expect(second.status).toBe(201)
    expect(second.headers['idempotent-replayed']).toBeUndefined()
    expect(second.body.status_id).not.toBe(first.body.status_id)
    expect((await tenant.stats()).body.total).toBe(2)
  })

  test('when the key has not yet expired, then it still replays', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const body = withoutId()
    const headers = idempotent()
    const first = await tenant.create(body, headers)
    now += TTL_MS - 1

    const second = await tenant.create(body, headers)

    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(second.body.status_id).toBe(first.body.status_id)
  })

  test('when an expired key comes back with another body, then it runs instead of answering 422', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const headers = idempotent()
    await tenant.create({ ...withoutId(), message: 'first' }, headers)
    now += TTL_MS + 1

    const res = await tenant.create({ ...withoutId(), message: 'second' }, headers)

    expect(res.status).toBe(201)
    expect(res.body.message).toBe('second')
  })

  test('when a request has no Idempotency-Key, then repeating it creates a new status each time', async () => {
    const tenant = await freshTenantApi(t, 'idem')
    const body = withoutId()

    await tenant.create(body)
    await tenant.create(body)

    expect((await tenant.stats()).body.total).toBe(2)
  })
})

describe('Idempotency-Key on writes to one status', () => {
  test('when a keyed PUT is repeated, then it replays the first answer and the version moves once', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = idempotent()

    const first = await api.update(created.status_id, { progress_percentage: 40 }, headers)
    const second = await api.update(created.status_id, { progress_percentage: 40 }, headers)

    expect(first.status).toBe(200)
    expect(second.status).toBe(200)
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(second.headers.etag).toBe('"2"')
    expect(second.body).toEqual(first.body)
    expect((await api.get(created.status_id)).body.version).toBe(2)
    expect(await api.allHistory(created.status_id)).toHaveLength(2)
  })

  test('when a keyed PUT is repeated after other changes, then it still answers with the stored response', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = idempotent()
    const first = await api.update(created.status_id, { progress_percentage: 40 }, headers)
    await api.updateOk(created.status_id, { progress_percentage: 70 })

    const replay = await api.update(created.status_id, { progress_percentage: 40 }, headers)

    expect(replay.body).toEqual(first.body)
    expect((await api.get(created.status_id)).body).toMatchObject({ progress_percentage: 70, version: 3 })
  })

  test('when a keyed PUT is repeated with another body, then 422 idempotency-key-reused and nothing changes', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = idempotent()
    await api.update(created.status_id, { progress_percentage: 40 }, headers)
    const before = await api.snapshot(created.status_id)

    const res = await api.update(created.status_id, { progress_percentage: 41 }, headers)

    expectProblem(res, 422, 'idempotency-key-reused')
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test('when a key used for one status is sent for another, then 422 idempotency-key-reused', async () => {
    const a = await api.createOk({ status: 'processing' })
    const b = await api.createOk({ status: 'processing' })
    const headers = idempotent()
    await api.update(a.status_id, { progress_percentage: 40 }, headers)

    const res = await api.update(b.status_id, { progress_percentage: 40 }, headers)

    expectProblem(res, 422, 'idempotency-key-reused')
  })

  test('when a keyed PUT failed with 409, then a retry with the same key after fixing the state runs', async () => {
    const created = await api.createOk({ status: 'pending' })
    const headers = idempotent()
    const failed = await api.update(created.status_id, { new_status: 'completed' }, headers)
    await api.updateOk(created.status_id, { new_status: 'processing' })

    const retried = await api.update(created.status_id, { new_status: 'completed' }, headers)

    expectProblem(failed, 409, 'invalid-transition')
    expect(retried.status).toBe(200)
    expect(retried.headers['idempotent-replayed']).toBeUndefined()
    expect(retried.body).toMatchObject({ status: 'completed', version: 3 })
  })

  test('when a keyed PUT failed with 412, then a retry with the same key once the version matches runs', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = { ...idempotent(), 'If-Match': '"2"' }
    const failed = await api.update(created.status_id, { progress_percentage: 10 }, headers)
    await api.updateOk(created.status_id, { message: 'now at version 2' })

    const retried = await api.update(created.status_id, { progress_percentage: 10 }, headers)

    expectProblem(failed, 412, 'version-mismatch', { expected_version: 2, current_version: 1 })
    expect(retried.status).toBe(200)
    expect(retried.body).toMatchObject({ progress_percentage: 10, version: 3 })
  })

  test('when a keyed error report is repeated, then retry_count goes up once', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = idempotent()
    const body = { error_info: { message: 'timeout', code: 'E_TIMEOUT' }, should_retry: true }

    const first = await api.recordError(created.status_id, body, headers)
    const second = await api.recordError(created.status_id, body, headers)

    expect(first.body).toMatchObject({ status: 'retry_pending', retry_count: 1 })
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(second.body).toEqual(first.body)
    expect((await api.get(created.status_id)).body.retry_count).toBe(1)
  })

  test('when a keyed error report comes with another body, then 422 idempotency-key-reused', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = idempotent()
    await api.recordError(created.status_id, { error_info: 'a', should_retry: true }, headers)

    const res = await api.recordError(created.status_id, { error_info: 'a', should_retry: false }, headers)

    expectProblem(res, 422, 'idempotency-key-reused')
    expect((await api.get(created.status_id)).body).toMatchObject({ status: 'retry_pending', retry_count: 1 })
  })

  test('when a keyed cancel is repeated, then the replay answers 200 instead of 409', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = idempotent()

    const first = await api.cancel(created.status_id, headers)
    const second = await api.cancel(created.status_id, headers)

    expect([first.status, second.status]).toEqual([200, 200])
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(second.body).toEqual(first.body)
    expect(await api.allHistory(created.status_id)).toHaveLength(2)
  })

  test('when an unkeyed cancel is repeated, then the second is 409', async () => {
    const created = await api.createOk({ status: 'processing' })
    await api.cancel(created.status_id)

    const res = await api.cancel(created.status_id)

    expectProblem(res, 409, 'invalid-transition')
  })

  test('when a key from a create is reused for a cancel, then 422 idempotency-key-reused', async () => {
    const headers = idempotent()
    const created = await api.create(makeStatus(), headers)

    const res = await api.cancel(created.body.status_id, headers)

    expectProblem(res, 422, 'idempotency-key-reused')
    expect((await api.get(created.body.status_id)).body.status).toBe('pending')
  })

  test('when a keyed PUT key has expired, then the same update runs again', async () => {
    const created = await api.createOk({ status: 'processing' })
    const headers = idempotent()
    await api.update(created.status_id, { message: 'hello' }, headers)
    await api.updateOk(created.status_id, { message: 'changed' })
    now += TTL_MS + 1

    const res = await api.update(created.status_id, { message: 'hello' }, headers)

    expect(res.headers['idempotent-replayed']).toBeUndefined()
    expect(res.body).toMatchObject({ message: 'hello', version: 4 })
  })
})
