import { makeStatus } from '../helpers/factories'
import { expectProblem } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

describe('authentication', () => {
  test('when a request carries no key, then 401 unauthenticated', async () => {
    const res = await t.request.get('/api/status')

    expectProblem(res, 401, 'unauthenticated')
  })

  test.each([
    ['an unknown bearer key', { Authorization: 'Bearer st_not-a-real-key' }],
    ['an unknown X-API-Key', { 'X-API-Key': 'st_not-a-real-key' }],
    ['an empty bearer token', { Authorization: 'Bearer ' }],
    ['a Basic scheme', { Authorization: 'Basic dXNlcjpwYXNz' }],
  ])('when a request carries %s, then 401 unauthenticated', async (_what, headers) => {
    const res = await t.request.get('/api/status').set(headers)

    expectProblem(res, 401, 'unauthenticated')
  })

  test('when a valid key is passed as a Basic credential, then it is not accepted', async () => {
    const key = await t.makeKey()

    const res = await t.request.get('/api/status').set('Authorization', `Basic ${key}`)

    expectProblem(res, 401, 'unauthenticated')
  })

  test.each([
    ['Authorization: Bearer', (key: string) => ({ Authorization: `Bearer ${key}` })],
    ['Authorization: bearer (any case)', (key: string) => ({ Authorization: `bearer ${key}` })],
    ['X-API-Key', (key: string) => ({ 'X-API-Key': key })],
  ])('when the key is sent as %s, then the request is authenticated', async (_how, headers) => {
    const key = await t.makeKey()

    const res = await t.request.get('/api/status').set(headers(key))

    expect(res.status).toBe(200)
  })

  test('when a key is revoked after it was used, then its next request is 401', async () => {
    const { key, secret } = await t.services.apiKeys.create('default', ['status:read'])
    expect((await t.request.get('/api/status').set(bearer(secret))).status).toBe(200)

    await t.services.apiKeys.revoke(key.id)
    const res = await t.request.get('/api/status').set(bearer(secret))

    expectProblem(res, 401, 'unauthenticated')
  })

  test('when a key is revoked before it was ever used, then it is 401', async () => {
    const { key, secret } = await t.services.apiKeys.create('default', ['status:read'])
    await t.services.apiKeys.revoke(key.id)

    const res = await t.request.get('/api/status').set('X-API-Key', secret)

    expectProblem(res, 401, 'unauthenticated')
  })

  test('when the key is missing, then even a request to an unknown /api route is 401, not 404', async () => {
    const res = await t.request.get('/api/no-such-thing')

    expectProblem(res, 401, 'unauthenticated')
  })
})

describe('scopes', () => {
  test('when a read-only key writes, then 403 insufficient-scope naming status:write', async () => {
    const key = await t.makeKey('default', ['status:read'])

    const res = await t.request.post('/api/status').set(bearer(key)).send(makeStatus())

    expectProblem(res, 403, 'insufficient-scope', { required_scope: 'status:write' })
  })

  test.each([
    [
      'PUT /api/status/:id',
      (id: string) => t.request.put(`/api/status/${id}`).send({ progress_percentage: 10 }),
    ],
    ['DELETE /api/status/:id', (id: string) => t.request.delete(`/api/status/${id}`)],
    [
      'POST /api/status/:id/errors',
      (id: string) => t.request.post(`/api/status/${id}/errors`).send({ error_info: 'boom' }),
    ],
    ['POST /api/status/:id/cancel', (id: string) => t.request.post(`/api/status/${id}/cancel`)],
  ])('when a read-only key calls %s, then 403 and the status is unchanged', async (_route, call) => {
    const writer = await t.makeKey()
    const reader = await t.makeKey('default', ['status:read'])
    const input = makeStatus()
    await t.request.post('/api/status').set(bearer(writer)).send(input).expect(201)

    const res = await call(input.status_id!).set(bearer(reader))

    expectProblem(res, 403, 'insufficient-scope', { required_scope: 'status:write' })
    const after = await t.request.get(`/api/status/${input.status_id}`).set(bearer(reader))
    expect(after.body).toMatchObject({ version: 1, status: 'pending' })
  })

  test('when a write-only key reads, then 403 insufficient-scope naming status:read', async () => {
    const key = await t.makeKey('default', ['status:write'])

    for (const path of ['/api/status', '/api/events', '/api/stats']) {
      expectProblem(await t.request.get(path).set(bearer(key)), 403, 'insufficient-scope', {
        required_scope: 'status:read',
      })
    }
  })

  test('when a read/write key manages keys, then 403 insufficient-scope naming admin', async () => {
    const key = await t.makeKey('default', ['status:read', 'status:write'])

    const list = await t.request.get('/api/keys').set(bearer(key))
    const create = await t.request
      .post('/api/keys')
      .set(bearer(key))
      .send({ scopes: ['admin'] })

    expectProblem(list, 403, 'insufficient-scope', { required_scope: 'admin' })
    expectProblem(create, 403, 'insufficient-scope', { required_scope: 'admin' })
  })

  test('when an admin key reads and writes statuses, then admin implies status:read and status:write', async () => {
    const input = makeStatus()

    const created = await t.request.post('/api/status').set(bearer(t.adminKey)).send(input)
    const updated = await t.request
      .put(`/api/status/${input.status_id}`)
      .set(bearer(t.adminKey))
      .send({ progress_percentage: 5 })
    const read = await t.request.get(`/api/status/${input.status_id}`).set(bearer(t.adminKey))
    const events = await t.request.get('/api/events').set(bearer(t.adminKey))

    expect([created.status, updated.status, read.status, events.status]).toEqual([201, 200, 200, 200])
    expect(read.body.progress_percentage).toBe(5)
  })
})

describe('tenant isolation', () => {
  let keyA: string
  let keyB: string
  let statusId: string

  beforeAll(async () => {
    keyA = await t.makeKey('tenant-a')
    keyB = await t.makeKey('tenant-b')
    const input = makeStatus({ resource_id: 'isolation:1', message: 'owned by tenant A' })
    statusId = input.status_id!
    await t.request.post('/api/status').set(bearer(keyA)).send(input).expect(201)
  })

  const asB = () => ({
    get: () => t.request.get(`/api/status/${statusId}`).set(bearer(keyB)),
    put: () => t.request.put(`/api/status/${statusId}`).set(bearer(keyB)).send({ progress_percentage: 99 }),
    delete: () => t.request.delete(`/api/status/${statusId}`).set(bearer(keyB)),
    history: () => t.request.get(`/api/status/${statusId}/history`).set(bearer(keyB)),
    errors: () =>
      t.request.post(`/api/status/${statusId}/errors`).set(bearer(keyB)).send({ error_info: 'boom' }),
    cancel: () => t.request.post(`/api/status/${statusId}/cancel`).set(bearer(keyB)),
  })

  test.each(['get', 'put', 'delete', 'history', 'errors', 'cancel'] as const)(
    "when tenant B calls %s on tenant A's status, then 404 status-not-found",
    async (operation) => {
      const res = await asB()[operation]()

      expectProblem(res, 404, 'status-not-found')
    },
  )

  test("when tenant B has tried to change tenant A's status, then A's status is untouched", async () => {
    await Promise.all([asB().put(), asB().errors(), asB().cancel()])
    await asB().delete()

    const res = await t.request.get(`/api/status/${statusId}`).set(bearer(keyA))
    expect(res.body).toMatchObject({ status: 'pending', version: 1, progress_percentage: 0, retry_count: 0 })
    const history = await t.request.get(`/api/status/${statusId}/history`).set(bearer(keyA))
    expect(history.body.items).toHaveLength(1)
  })

  test("when tenant B lists, counts and reads the event feed, then nothing of tenant A's shows", async () => {
    const list = await t.request.get('/api/status').set(bearer(keyB))
    const filtered = await t.request.get('/api/status?resource_id=isolation:1').set(bearer(keyB))
    const stats = await t.request.get('/api/stats').set(bearer(keyB))
    const events = await t.request.get('/api/events').set(bearer(keyB))

    expect(list.body.items).toEqual([])
    expect(filtered.body.items).toEqual([])
    expect(stats.body.total).toBe(0)
    expect(events.body.items).toEqual([])
    // Tenant A does see its own, so the empty answers above are isolation, not a broken query.
    const ownList = await t.request.get('/api/status?resource_id=isolation:1').set(bearer(keyA))
    const ownEvents = await t.request.get('/api/events').set(bearer(keyA))
    expect(ownList.body.items.map((s: { status_id: string }) => s.status_id)).toEqual([statusId])
    expect(ownEvents.body.items.some((e: { status_id: string }) => e.status_id === statusId)).toBe(true)
  })

  test('when tenant B creates a status with the same id as tenant A, then both exist independently', async () => {
    const created = await t.request
      .post('/api/status')
      .set(bearer(keyB))
      .send({ status_id: statusId, message: 'owned by B' })

    expect(created.status).toBe(201)
    const seenByA = await t.request.get(`/api/status/${statusId}`).set(bearer(keyA))
    const seenByB = await t.request.get(`/api/status/${statusId}`).set(bearer(keyB))
    expect(seenByA.body.message).toBe('owned by tenant A')
    expect(seenByB.body.message).toBe('owned by B')
  })
})
