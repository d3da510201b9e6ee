import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import {
  expectProblem,
  expectValidationError,
  freshTenantApi,
  statusApi,
  type StatusApi,
  type StatusJson,
} from '../helpers/status-api'

// POST /api/status/batch over real HTTP and a real SQLite file. The main app flushes after 5 ms, so
// `?wait=true` answers promptly; the queue tests use an app whose items stay queued for ten seconds.
let t: TestApp

beforeAll(async () => {
  t = await buildTestApp({ updater: { batchSize: 100, flushMs: 5, maxQueue: 10_000 } })
})
afterAll(() => t.close())

const batch = (app: TestApp, key: string, body: unknown, query = '') =>
  app.request
    .post(`/api/status/batch${query}`)
    .set(bearer(key))
    .send(body as object)

async function processing(api: StatusApi, count: number): Promise<StatusJson[]> {
  const created: StatusJson[] = []
  for (let i = 0; i < count; i++) created.push(await api.createOk({ status: 'processing' }))
  return created
}

describe('accepted and rejected items', () => {
  test('when every item is valid, then 202 counts them accepted and they are applied once flushed', async () => {
    const api = await freshTenantApi(t)
    const [a, b] = await processing(api, 2)

    const res = await batch(t, api.key, {
      updates: [
        { status_id: a!.status_id, progress_percentage: 25, message: 'a quarter' },
        { status_id: b!.status_id, new_status: 'completed' },
      ],
    })

    expect(res.status).toBe(202)
    expect(res.body).toEqual({ accepted: 2, rejected: [] })
    await t.services.updater.flush()
    expect((await api.get(a!.status_id)).body).toMatchObject({
      progress_percentage: 25,
      message: 'a quarter',
      version: 2,
    })
    expect((await api.get(b!.status_id)).body).toMatchObject({ status: 'completed', version: 2 })
  })

  test('when some items are invalid, then each is rejected by index with its validation errors and the valid ones are accepted', async () => {
    const api = await freshTenantApi(t)
    const [first, last] = await processing(api, 2)

    const res = await batch(t, api.key, {
      updates: [
        { status_id: first!.status_id, progress_percentage: 10 },
        { status_id: first!.status_id, new_status: 'invalid_status' },
        { status_id: first!.status_id, progress_percentage: 150 },
        { status_id: first!.status_id, progress_percentage: -1 },
        { status_id: first!.status_id, message: 'hi', priority: 'high' },
        { status_id: first!.status_id },
        { progress_percentage: 20 },
        { status_id: 'has a space', progress_percentage: 20 },
        42,
        { status_id: last!.status_id, message: 'm'.repeat(1025) },
        { status_id: last!.status_id, message: 'fine' },
      ],
    })

    expect(res.status).toBe(202)
    expect(res.body.accepted).toBe(2)
    const rejected = res.body.rejected as {
      index: number
      error: { code: string; message: string; errors: { path: string; message: string }[] }
    }[]
    expect(rejected.map((r) => r.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    for (const r of rejected) {
      expect(r.error).toEqual({
        code: 'validation-failed',
        message: expect.any(String),
        errors: expect.arrayContaining([{ path: expect.any(String), message: expect.any(String) }]),
      })
    }
    const paths = (index: number) => rejected.find((r) => r.index === index)!.error.errors.map((e) => e.path)
    expect(paths(1)).toEqual(['new_status'])
    expect(paths(2)).toEqual(['progress_percentage'])
    expect(paths(3)).toEqual(['progress_percentage'])
    expect(rejected[3]!.error.errors[0]!.message).toMatch(/priority/)
    expect(paths(6)).toContain('status_id')
    expect(paths(7)).toEqual(['status_id'])
    expect(paths(9)).toEqual(['message'])

    await t.services.updater.flush()
    expect((await api.get(first!.status_id)).body).toMatchObject({ progress_percentage: 10, version: 2 })
    expect((await api.get(last!.status_id)).body).toMatchObject({ message: 'fine', version: 2 })
  })

  test('when an item names an unknown status or another tenant’s, then it is rejected status-not-found by index', async () => {
    const api = await freshTenantApi(t)
    const other = await freshTenantApi(t)
    const [mine] = await processing(api, 1)
    const [theirs] = await processing(other, 1)

    const res = await batch(t, api.key, {
      updates: [
        { status_id: 'missing', progress_percentage: 1 },
        { status_id: 'bad id', progress_percentage: 1 },
        { status_id: theirs!.status_id, progress_percentage: 99, message: 'cross-tenant' },
        { status_id: mine!.status_id, progress_percentage: 5 },
      ],
    })

    expect(res.status).toBe(202)
    expect(res.body.accepted).toBe(1)
    expect(res.body.rejected).toEqual([
      { index: 0, error: { code: 'status-not-found', message: 'Status missing not found' } },
      { index: 1, error: expect.objectContaining({ code: 'validation-failed' }) },
      { index: 2, error: { code: 'status-not-found', message: `Status ${theirs!.status_id} not found` } },
    ])
    await t.services.updater.flush()
    expect((await other.get(theirs!.status_id)).body).toMatchObject({ progress_percentage: 0, version: 1 })
    expect(await other.allHistory(theirs!.status_id)).toHaveLength(1)
  })

  test('when exactly 1,000 items are sent, then all are accepted', async () => {
    const api = await freshTenantApi(t)
    const [status] = await processing(api, 1)
    const updates = Array.from({ length: 1000 }, (_, i) => ({
      status_id: status!.status_id,
      progress_percentage: i / 10,
    }))

    const res = await batch(t, api.key, { updates }, '?wait=true')

    expect(res.status).toBe(200)
    expect(res.body.accepted).toBe(1000)
    expect(res.body.results.filter((r: { result: string }) => r.result === 'applied')).toEqual([
      { index: 999, status_id: status!.status_id, result: 'applied', version: 2 },
    ])
    expect((await api.get(status!.status_id)).body).toMatchObject({ progress_percentage: 99.9, version: 2 })
  })
})

describe('?wait=true', () => {
  test('when the caller waits, then 200 carries each accepted item’s result after the commit and GET shows the new values at once', async () => {
    const api = await freshTenantApi(t)
    const [a, b] = await processing(api, 2)

    const res = await batch(
      t,
      api.key,
      {
        updates: [
          { status_id: a!.status_id, progress_percentage: 10 },
          { status_id: 'nope', progress_percentage: 10 },
          { status_id: a!.status_id, progress_percentage: 80, message: 'nearly' },
          { status_id: b!.status_id, new_status: 'pending' },
          { status_id: b!.status_id, new_status: 'completed' },
        ],
      },
      '?wait=true',
    )

    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      accepted: 4,
      rejected: [{ index: 1, error: { code: 'status-not-found', message: 'Status nope not found' } }],
      results: [
        { index: 0, status_id: a!.status_id, result: 'stale' },
        { index: 2, status_id: a!.status_id, result: 'applied', version: 2 },
        {
          index: 3,
          status_id: b!.status_id,
          result: 'error',
          error: { code: 'invalid-transition', message: expect.any(String) },
        },
        { index: 4, status_id: b!.status_id, result: 'applied', version: 2 },
      ],
    })
    expect((await api.get(a!.status_id)).body).toMatchObject({
      progress_percentage: 80,
      message: 'nearly',
      version: 2,
    })
    expect((await api.get(b!.status_id)).body).toMatchObject({
      status: 'completed',
      progress_percentage: 100,
      version: 2,
    })
    const events = await api.allEvents()
    expect(events.slice(-2).map((e) => [e.status_id, e.type, e.version])).toEqual(
      expect.arrayContaining([
        [a!.status_id, 'status.progress', 2],
        [b!.status_id, 'status.updated', 2],
      ]),
    )
  })

  test('when wait=false is given, then the answer is 202 without results', async () => {
    const api = await freshTenantApi(t)
    const [status] = await processing(api, 1)

    const res = await batch(
      t,
      api.key,
      { updates: [{ status_id: status!.status_id, message: 'later' }] },
      '?wait=false',
    )

    expect(res.status).toBe(202)
    expect(res.body).toEqual({ accepted: 1, rejected: [] })
  })

  test('when every item is rejected and the caller waits, then 200 has no results and nothing is written', async () => {
    const api = await freshTenantApi(t)

    const res = await batch(t, api.key, { updates: [{ status_id: 'ghost', message: 'x' }] }, '?wait=true')

    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      accepted: 0,
      rejected: [{ index: 0, error: { code: 'status-not-found', message: 'Status ghost not found' } }],
      results: [],
    })
    expect(await api.allEvents()).toEqual([])
  })
})

describe('envelope errors', () => {
  let key: string
  beforeAll(async () => {
    key = (await freshTenantApi(t)).key
  })

  test('when the body is an array instead of an object, then 400 validation-failed', async () => {
    expectValidationError(await batch(t, key, [{ status_id: 'a', message: 'x' }]))
  })

  test('when there is no body, then 400 validation-failed', async () => {
    expectValidationError(await t.request.post('/api/status/batch').set(bearer(key)))
  })

  test('when updates is empty, then 400 naming updates', async () => {
    expectValidationError(await batch(t, key, { updates: [] }), 'updates')
  })

  test('when updates is not an array, then 400 naming updates', async () => {
    expectValidationError(await batch(t, key, { updates: { status_id: 'a' } }), 'updates')
  })

  test('when more than 1,000 updates are sent, then 400 naming updates', async () => {
    const updates = Array.from({ length: 1001 }, () => ({ status_id: 'a', message: 'x' }))
    expectValidationError(await batch(t, key, { updates }), 'updates')
  })

  test('when the body has an unknown top-level field, then 400', async () => {
    const res = await batch(t, key, { updates: [{ status_id: 'a', message: 'x' }], dry_run: true })
    expectValidationError(res)
    expect(res.body.errors[0].message).toMatch(/dry_run/)
  })

  test('when wait has a value other than true or false, then 400 naming wait', async () => {
    expectValidationError(
      await batch(t, key, { updates: [{ status_id: 'a', message: 'x' }] }, '?wait=yes'),
      'wait',
    )
  })

  test('when the query has an unknown parameter, then 400', async () => {
    expectValidationError(await batch(t, key, { updates: [{ status_id: 'a', message: 'x' }] }, '?async=1'))
  })

  test('when the body is malformed JSON, then 400 malformed-json', async () => {
    const res = await t.request
      .post('/api/status/batch')
      .set(bearer(key))
      .set('Content-Type', 'application/json')
      .send('{"updates": [')
    expectProblem(res, 400, 'malformed-json')
  })
})

describe('auth', () => {
  test('when no key is given, then 401', async () => {
    const res = await t.request
      .post('/api/status/batch')
      .send({ updates: [{ status_id: 'a', message: 'x' }] })
    expectProblem(res, 401, 'unauthenticated')
  })

  test('when the key may only read, then 403 insufficient-scope and nothing is queued', async () => {
    const writer = await freshTenantApi(t)
    const [status] = await processing(writer, 1)
    const tenant = (await t.services.apiKeys.authenticate(writer.key))!.tenant_id
    const reader = await t.makeKey(tenant, ['status:read'])

    const res = await batch(t, reader, { updates: [{ status_id: status!.status_id, message: 'x' }] })

    expectProblem(res, 403, 'insufficient-scope', { required_scope: 'status:write' })
    await t.services.updater.flush()
    expect((await writer.get(status!.status_id)).body).toMatchObject({ message: null, version: 1 })
  })
})

describe('stats and metrics', () => {
  test('when batches have been written, then /api/stats shows the queue depth and updater stats', async () => {
    const api = await freshTenantApi(t)
    const [status] = await processing(api, 1)
    await batch(t, api.key, { updates: [{ status_id: status!.status_id, message: 'x' }] }, '?wait=true')

    const res = await api.stats()

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      total: 1,
      queue_depth: 0,
      updater: {
        queue_capacity: 10_000,
        flushes: expect.any(Number),
        updates_written: expect.any(Number),
        last_flush_ms: expect.any(Number),
        mean_flush_ms: expect.any(Number),
        mean_batch_statuses: expect.any(Number),
      },
    })
    // Each value once: the queue depth, events/s and subscribers only at the top.
    expect(res.body.updater).not.toHaveProperty('queue_depth')
    expect(res.body.events).not.toHaveProperty('events_per_second')
    expect(res.body.events).not.toHaveProperty('subscribers')
    expect(res.body.updater.flushes).toBeGreaterThanOrEqual(1)
    expect(res.body.updater.updates_written).toBeGreaterThanOrEqual(1)
  })

  test('when batches have been written, then /metrics exposes the updater histograms, item counter and queue depth', async () => {
    const api = await freshTenantApi(t)
    const [status] = await processing(api, 1)
    await batch(
      t,
      api.key,
      {
        updates: [
          { status_id: status!.status_id, progress_percentage: 1 },
          { status_id: status!.status_id, progress_percentage: 2 },
        ],
      },
      '?wait=true',
    )

    const res = await t.request.get('/metrics')

    expect(res.status).toBe(200)
    expect(res.text).toMatch(/^status_updater_flush_seconds_bucket\{le="0\.001"\} \d+$/m)
    expect(res.text).toMatch(/^status_updater_flush_seconds_count [1-9]\d*$/m)
    expect(res.text).toMatch(/^status_updater_batch_statuses_count [1-9]\d*$/m)
    expect(res.text).toMatch(/^status_updater_items_total\{result="applied"\} [1-9]\d*$/m)
    expect(res.text).toMatch(/^status_updater_items_total\{result="stale"\} [1-9]\d*$/m)
    expect(res.text).toMatch(/^status_updater_queue_depth 0$/m)
  })
})

describe('a bounded queue', () => {
  // Items stay queued for ten seconds here, so the queue fills up deterministically.
  let slow: TestApp
  let api: StatusApi
  let ids: string[]
  beforeAll(async () => {
    slow = await buildTestApp({ updater: { batchSize: 100, maxQueue: 5, flushMs: 10_000 } })
    api = statusApi(slow, await slow.makeKey('queue'))
    ids = []
    for (let i = 0; i < 6; i++) ids.push((await api.createOk({ status: 'processing' })).status_id)
  })
  afterAll(() => slow.close())

  test('when a batch would overflow the queue, then 503 queue-full with Retry-After and none of it is queued', async () => {
    const fill = await batch(slow, api.key, {
      updates: ids.slice(0, 4).map((id) => ({ status_id: id, progress_percentage: 10 })),
    })
    expect(fill.status).toBe(202)

    const res = await batch(slow, api.key, {
      updates: ids.slice(4, 6).map((id) => ({ status_id: id, progress_percentage: 20 })),
    })

    expectProblem(res, 503, 'queue-full', { retry_after: 1 })
    expect(res.headers['retry-after']).toBe('1')
    const stats = await api.stats()
    expect(stats.body).toMatchObject({ queue_depth: 4, updater: { queue_capacity: 5 } })
    const metrics = await slow.request.get('/metrics')
    expect(metrics.text).toMatch(/^status_updater_queue_depth 4$/m)

    // Unknown ids take no room in the queue: this batch still fits.
    const fits = await batch(slow, api.key, {
      updates: [
        { status_id: ids[4]!, progress_percentage: 30 },
        { status_id: 'unknown', progress_percentage: 30 },
      ],
    })
    expect(fits.status).toBe(202)
    expect(fits.body.accepted).toBe(1)
    expect((await api.stats()).body.queue_depth).toBe(5)

    await slow.services.updater.flush()
    expect((await api.get(ids[4]!)).body).toMatchObject({ progress_percentage: 30, version: 2 })
    expect((await api.get(ids[5]!)).body).toMatchObject({ progress_percentage: 0, version: 1 })
  })

  test('when the updater is stopping, then a batch is refused with 503 shutting-down and Retry-After', async () => {
    await slow.services.updater.stop()

    const res = await batch(slow, api.key, { updates: [{ status_id: ids[0]!, message: 'too late' }] })

    expectProblem(res, 503, 'shutting-down', { retry_after: 1 })
    expect(res.headers['retry-after']).toBe('1')
    expect((await api.get(ids[0]!)).body).toMatchObject({ message: null })
  })
})
