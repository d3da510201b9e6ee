import {
  expectProblem,
  expectValidationError,
  freshTenantApi,
  statusApi,
  type StatusApi,
} from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

// Inputs a hostile or careless client sends. Each must be a 4xx problem that changes nothing, or be
// accepted and then read back exactly as the write's own answer and event said.

let t: TestApp
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp()
  api = statusApi(t, await t.makeKey())
})
afterAll(() => t.close())

/** `[[[…1…]]]` nested `depth` deep, as JSON text (JSON.stringify of it would itself overflow). */
const nestedArrays = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

/** Sends `body` as JSON text, as written: the escapes a test spells reach the server unchanged. */
const sendRaw = (key: string, method: 'post' | 'put', path: string, body: string) =>
  t.request[method](path).set(bearer(key)).set('Content-Type', 'application/json').send(body)

/** What a refused request must leave as it was: the tenant's feed and its statuses. */
async function expectUntouched(tenant: StatusApi, before: unknown[]) {
  expect(await tenant.allEvents()).toEqual(before)
}

describe('deeply nested JSON', () => {
  test.each([
    [
      'metadata of arrays nested 4,093 deep (8 KiB)',
      (id: string) => `{"status_id":"${id}","metadata":{"a":${nestedArrays(4093)}}}`,
    ],
    [
      'metadata of objects nested 5,000 deep (over 16 KiB)',
      (id: string) => `{"status_id":"${id}","metadata":${nestedObjects(5000)}}`,
    ],
    [
      'error details nested 1,000 deep',
      () => `{"error_info":{"message":"x","details":${nestedObjects(1000)}}}`,
    ],
    [
      'a body nested 33 deep (one over the limit)',
      (id: string) => `{"status_id":"${id}","metadata":${nestedObjects(32)}}`,
    ],
  ])('when a POST body has %s, then 400 nesting-too-deep and nothing is written', async (_what, body) => {
    const tenant = await freshTenantApi(t, 'nested')
    const existing = await tenant.createOk({ status: 'processing' })
    const before = await tenant.allEvents()
    const path = body('nested-1').includes('error_info')
      ? `/api/status/${existing.status_id}/errors`
      : '/api/status'

    const res = await sendRaw(tenant.key, 'post', path, body('nested-1'))

    expectProblem(res, 400, 'nesting-too-deep')
    await expectUntouched(tenant, before)
  })

  test('when a PUT body has metadata nested 4,093 deep, then 400 and the status is unchanged', async () => {
    const created = await api.createOk()
    const before = await api.snapshot(created.status_id)

    const res = await sendRaw(
      api.key,
      'put',
      `/api/status/${created.status_id}`,
      `{"metadata":{"a":${nestedArrays(4093)}}}`,
    )

    expectProblem(res, 400, 'nesting-too-deep')
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test('when metadata is nested 32 deep (the limit), then it is stored and read back whole', async () => {
    // The body is the metadata's container plus 32 levels inside it.
    const metadata = JSON.parse(nestedObjects(31)) as Record<string, unknown>

    const created = await api.createOk({ metadata })

    expect((await api.get(created.status_id)).body.metadata).toEqual(metadata)
  })
})

describe('progress too small to project a completion from', () => {
  test.each([1e-14, 1e-300, Number.MIN_VALUE])(
    'when a processing status gets progress %p by PUT, then 200 with no estimate, as the record reads back',
    async (progress) => {
      const created = await api.createOk({ status: 'processing' })

      const res = await api.update(created.status_id, { progress_percentage: progress })

      expect({ status: res.status, body: res.body }).toMatchObject({
        status: 200,
        body: { progress_percentage: progress, estimated_completion_at: null },
      })
      expect((await api.get(created.status_id)).body).toMatchObject({
        progress_percentage: progress,
        estimated_completion_at: null,
      })
    },
  )

  test('when the same progress goes through /batch?wait=true, then it is applied like the PUT', async () => {
    const created = await api.createOk({ status: 'processing' })

    const res = await t.request
      .post('/api/status/batch?wait=true')
      .set(bearer(api.key))
      .send({ updates: [{ status_id: created.status_id, progress_percentage: 1e-14 }] })

    expect({ status: res.status, body: res.body }).toMatchObject({
      status: 200,
      body: { accepted: 1, results: [{ index: 0, result: 'applied', version: 2 }] },
    })
    expect((await api.get(created.status_id)).body).toMatchObject({
      progress_percentage: 1e-14,
      estimated_completion_at: null,
    })
  })
})

describe('problems of a terminal status', () => {
  test('when a failed status gets a new message, then the problem status is 409 and the state is current_status', async () => {
    const created = await api.createOk({ status: 'failed' })

    const res = await api.update(created.status_id, { message: 'again' })

    expectProblem(res, 409, 'status-terminal', { current_status: 'failed' })
  })

  test('when a completed status gets an error, then the problem status is 409 and the state is current_status', async () => {
    const created = await api.createOk({ status: 'completed' })

    const res = await api.recordError(created.status_id, { error_info: 'late' })

    expectProblem(res, 409, 'status-terminal', { current_status: 'completed' })
  })
})

describe('what no body field may hold', () => {
  // Lone surrogates: JSON escapes can spell them, but no UTF-8 store can keep one, so the record would
  // read back other than its answer and event said. NUL: PostgreSQL's text and jsonb cannot store it (a
  // 500 there). __proto__: copying the object turns the key into a prototype and the field vanishes.
  test.each([
    ['a lone surrogate in message', '{"status_id":"x-1","message":"a\\ud800b"}', 'message'],
    ['a lone surrogate in kind', '{"status_id":"x-1","kind":"\\udfffx"}', 'kind'],
    ['a lone surrogate in a tag', '{"status_id":"x-1","tags":["ok","x\\udc00"]}', 'tags.1'],
    [
      'a lone surrogate in a metadata value',
      '{"status_id":"x-1","metadata":{"k":["\\ud83d"]}}',
      'metadata.k.0',
    ],
    ['a lone surrogate in a metadata key', '{"status_id":"x-1","metadata":{"\\ud800":1}}', 'metadata'],
    ['NUL in status_id', '{"status_id":"a\\u0000"}', 'status_id'],
    ['NUL in kind', '{"kind":"\\u0000"}', 'kind'],
    ['NUL in resource_id', '{"resource_id":"\\u0000 "}', 'resource_id'],
    ['NUL in message', '{"message":"a\\u0000b"}', 'message'],
    ['NUL in a tag', '{"tags":["ok","x\\u0000"]}', 'tags.1'],
    ['NUL in a metadata value', '{"metadata":{"k":{"v":"\\u0000"}}}', 'metadata.k.v'],
    ['NUL in a metadata key', '{"metadata":{"a\\u0000":1}}', 'metadata'],
    [
      'a __proto__ key in metadata',
      '{"status_id":"x-1","metadata":{"__proto__":{"x":1},"k":2}}',
      'metadata.__proto__',
    ],
    [
      'a __proto__ key deep in metadata',
      '{"status_id":"x-1","metadata":{"k":[{"__proto__":null}]}}',
      'metadata.k.0.__proto__',
    ],
    ['a __proto__ key in the body itself', '{"status_id":"x-1","__proto__":{"kind":"x"}}', '__proto__'],
  ])('when a create has %s, then 400 naming it and nothing is written', async (_what, body, path) => {
    const tenant = await freshTenantApi(t, 'refused')
    const before = await tenant.allEvents()

    const res = await sendRaw(tenant.key, 'post', '/api/status', body)

    expectValidationError(res, path)
    await expectUntouched(tenant, before)
  })

  test.each([
    [
      'a lone surrogate',
      '{"message":"a\\ud800b"}',
      '{"error_info":{"message":"boom\\udbff"}}',
      'error_info.message',
    ],
    ['NUL', '{"message":"\\u0000"}', '{"error_info":"boom\\u0000"}', 'error_info'],
    [
      'a __proto__ key',
      '{"metadata":{"__proto__":{}}}',
      '{"error_info":{"message":"m","details":{"__proto__":1}}}',
      'error_info.details.__proto__',
    ],
  ])(
    'when an update or an error has %s, then 400 and the status is unchanged',
    async (_what, update, error, errorPath) => {
      const created = await api.createOk({ status: 'processing' })
      const before = await api.snapshot(created.status_id)

      const put = await sendRaw(api.key, 'put', `/api/status/${created.status_id}`, update)
      const post = await sendRaw(api.key, 'post', `/api/status/${created.status_id}/errors`, error)

      expectValidationError(put)
      expectValidationError(post, errorPath)
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  test('when a text has a well-formed surrogate pair, then the answer, the event and a later read agree', async () => {
    const res = await sendRaw(
      api.key,
      'post',
      '/api/status',
      '{"status_id":"pair-1","message":"a\\ud83d\\ude00b","metadata":{"\\ud83d\\ude00":"\\u00e9"}}',
    )

    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ message: 'a😀b', metadata: { '😀': 'é' } })
    const [event] = await api.allHistory('pair-1')
    expect(event.status).toMatchObject({ message: 'a😀b', metadata: { '😀': 'é' } })
    expect((await api.get('pair-1')).body).toMatchObject({ message: 'a😀b', metadata: { '😀': 'é' } })
  })

  test('when metadata has keys named constructor and prototype, then they are kept as data', async () => {
    const metadata = { constructor: { name: 'x' }, prototype: 1, toString: 'y' }

    const created = await api.createOk({ metadata })

    expect(created.metadata).toEqual(metadata)
    expect((await api.get(created.status_id)).body.metadata).toEqual(metadata)
  })
})
