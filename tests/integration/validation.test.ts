import { makeStatus } from '../helpers/factories'
import {
  expectProblem,
  expectValidationError,
  freshTenantApi,
  statusApi,
  type StatusApi,
} from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

let t: TestApp
let key: string
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp()
  key = await t.makeKey()
  api = statusApi(t, key)
})
afterAll(() => t.close())

const METADATA_LIMIT = 16 * 1024
/** A metadata object whose JSON text is exactly `bytes` long. */
const metadataOfSize = (bytes: number) => ({ x: 'a'.repeat(bytes - '{"x":""}'.length) })
const tags = (n: number) => Array.from({ length: n }, (_, i) => `tag-${i}`)

/** A tenant that must stay empty: a rejected create writes neither a status nor an event. */
async function expectTenantUntouched(tenant: StatusApi) {
  expect((await tenant.stats()).body.total).toBe(0)
  expect(await tenant.allEvents()).toEqual([])
}

describe('POST /api/status: invalid bodies', () => {
  test.each([
    ['status "invalid_status"', { status: 'invalid_status' }, 'status'],
    ['progress_percentage 150', { progress_percentage: 150 }, 'progress_percentage'],
    ['progress_percentage -1', { progress_percentage: -1 }, 'progress_percentage'],
    ['progress_percentage as a string', { progress_percentage: '50' }, 'progress_percentage'],
    ['metadata as a string', { metadata: 'not an object' }, 'metadata'],
    ['metadata as an array', { metadata: [1, 2] }, 'metadata'],
    ['metadata null', { metadata: null }, 'metadata'],
    ['metadata over 16 KiB', { metadata: metadataOfSize(METADATA_LIMIT + 1) }, 'metadata'],
    ['a status_id with a space', { status_id: 'has space' }, 'status_id'],
    ['a status_id of 129 characters', { status_id: 'x'.repeat(129) }, 'status_id'],
    ['an empty status_id', { status_id: '' }, 'status_id'],
    ['a status_id with a slash', { status_id: 'a/b' }, 'status_id'],
    ['21 tags', { tags: tags(21) }, 'tags'],
    ['a tag of 65 characters', { tags: ['ok', 't'.repeat(65)] }, 'tags.1'],
    ['an empty tag', { tags: [''] }, 'tags.0'],
    ['a message of 1025 characters', { message: 'm'.repeat(1025) }, 'message'],
    ['steps_completed above steps_total', { steps_completed: 5, steps_total: 3 }, 'steps_completed'],
    ['fractional steps', { steps_completed: 1.5 }, 'steps_completed'],
    ['max_retries -1', { max_retries: -1 }, 'max_retries'],
    ['max_retries 101', { max_retries: 101 }, 'max_retries'],
    ['priority "urgent"', { priority: 'urgent' }, 'priority'],
    ['a kind of 65 characters', { kind: 'k'.repeat(65) }, 'kind'],
    ['a resource_id of 129 characters', { resource_id: 'r'.repeat(129) }, 'resource_id'],
  ])(
    'when the body has %s, then 400 validation-failed naming the field and nothing is created',
    async (_what, fields, path) => {
      const tenant = await freshTenantApi(t, 'reject')

      const res = await tenant.create(makeStatus(fields as never))

      expectValidationError(res, path)
      await expectTenantUntouched(tenant)
    },
  )

  test.each([
    ['an unknown field', { colour: 'red' }, 'colour'],
    ['an update-only field', { new_status: 'processing' }, 'new_status'],
    ['a server-owned field', { version: 7 }, 'version'],
  ])('when the body has %s, then 400 validation-failed naming it', async (_what, fields, name) => {
    const tenant = await freshTenantApi(t, 'reject')

    const res = await tenant.create({ ...makeStatus(), ...fields })

    expectValidationError(res)
    expect(res.body.errors.map((e: { message: string }) => e.message).join(' ')).toContain(name)
    await expectTenantUntouched(tenant)
  })

  test('when several fields are wrong, then each is reported', async () => {
    const res = await api.create({ progress_percentage: 150, priority: 'urgent', metadata: 'x' })

    expectValidationError(res)
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'metadata',
      'priority',
      'progress_percentage',
    ])
  })

  test.each([
    ['metadata of exactly 16 KiB', { metadata: metadataOfSize(METADATA_LIMIT) }],
    ['20 tags', { tags: tags(20) }],
    ['a tag of 64 characters', { tags: ['t'.repeat(64)] }],
    ['a message of 1024 characters', { message: 'm'.repeat(1024) }],
    ['progress_percentage 100', { progress_percentage: 100 }],
    ['steps_completed equal to steps_total', { steps_completed: 3, steps_total: 3 }],
  ])('when the body has %s, then it is accepted', async (_what, fields) => {
    const res = await api.create(makeStatus(fields))

    expect(res.status).toBe(201)
  })

  test('when the JSON is malformed, then 400 malformed-json and nothing is created', async () => {
    const tenant = await freshTenantApi(t, 'reject')

    const res = await t.request
      .post('/api/status')
      .set(bearer(tenant.key))
      .set('Content-Type', 'application/json')
      .send('{"status_id": "x",')

    expectProblem(res, 400, 'malformed-json')
    await expectTenantUntouched(tenant)
  })

  test('when the body is over 1 MiB, then 413 payload-too-large', async () => {
    const res = await api.create({ ...makeStatus(), message: 'x'.repeat(1024 * 1024 + 1) })

    expectProblem(res, 413, 'payload-too-large')
  })

  test('when the body is not JSON at all, then 400 validation-failed', async () => {
    const res = await t.request
      .post('/api/status')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send('status_id=x')

    expectValidationError(res)
  })

  test('when the Idempotency-Key is longer than 255 characters, then 400 validation-failed', async () => {
    const res = await api.create(makeStatus(), { 'Idempotency-Key': 'k'.repeat(256) })

    expectValidationError(res)
  })
})

describe('PUT /api/status/:id: invalid bodies', () => {
  test.each([
    ['new_status "invalid_status"', { new_status: 'invalid_status' }, 'new_status'],
    ['progress_percentage 150', { progress_percentage: 150 }, 'progress_percentage'],
    ['progress_percentage -1', { progress_percentage: -1 }, 'progress_percentage'],
    ['metadata as a string', { metadata: 'x' }, 'metadata'],
    ['metadata as an array', { metadata: [] }, 'metadata'],
    ['metadata null', { metadata: null }, 'metadata'],
    ['metadata over 16 KiB', { metadata: metadataOfSize(METADATA_LIMIT + 1) }, 'metadata'],
    ['21 tags', { tags: tags(21) }, 'tags'],
    ['a tag of 65 characters', { tags: ['t'.repeat(65)] }, 'tags.0'],
    ['a message of 1025 characters', { message: 'm'.repeat(1025) }, 'message'],
    ['steps_completed above steps_total', { steps_completed: 4, steps_total: 2 }, 'steps_completed'],
    ['steps_completed above the stored steps_total', { steps_completed: 9 }, 'steps_completed'],
    ['steps_total below the stored steps_completed', { steps_total: 1 }, 'steps_completed'],
    ['an empty body', {}, ''],
    ['only expected_version', { expected_version: 1 }, ''],
    ['only reported_at', { reported_at: '2030-01-01T00:00:00Z' }, ''],
    [
      'a reported_at that is not a timestamp',
      { progress_percentage: 1, reported_at: 'yesterday' },
      'reported_at',
    ],
    [
      'a reported_at without a time zone',
      { progress_percentage: 1, reported_at: '2030-01-01T10:00:00' },
      'reported_at',
    ],
    ['expected_version 0', { progress_percentage: 1, expected_version: 0 }, 'expected_version'],
    ['a create-only field', { status: 'processing' }, ''],
    ['an unknown field', { progress_percentage: 5, colour: 'red' }, ''],
  ])(
    'when the body has %s, then 400 validation-failed and the status is unchanged',
    async (_what, body, path) => {
      const created = await api.createOk({ status: 'processing', steps_completed: 2, steps_total: 8 })
      const before = await api.snapshot(created.status_id)

      const res = await api.update(created.status_id, body)

      expectValidationError(res, path)
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  test('when the JSON is malformed, then 400 malformed-json and the status is unchanged', async () => {
    const created = await api.createOk()
    const before = await api.snapshot(created.status_id)

    const res = await t.request
      .put(`/api/status/${created.status_id}`)
      .set(bearer(key))
      .set('Content-Type', 'application/json')
      .send('{progress_percentage: 5}')

    expectProblem(res, 400, 'malformed-json')
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test('when the body is over 1 MiB, then 413 payload-too-large and the status is unchanged', async () => {
    const created = await api.createOk()
    const before = await api.snapshot(created.status_id)

    const res = await api.update(created.status_id, { message: 'x'.repeat(1024 * 1024 + 1) })

    expectProblem(res, 413, 'payload-too-large')
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })

  test.each(['abc', '"v1"', '"1", "2"', 'W/'])(
    'when If-Match is %s, then 400 validation-failed',
    async (ifMatch) => {
      const created = await api.createOk()
      const before = await api.snapshot(created.status_id)

      const res = await api.update(created.status_id, { progress_percentage: 5 }, { 'If-Match': ifMatch })

      expectValidationError(res)
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )

  test('when If-Match and expected_version disagree, then 400 validation-failed on expected_version', async () => {
    const created = await api.createOk()
    const before = await api.snapshot(created.status_id)

    const res = await api.update(
      created.status_id,
      { progress_percentage: 5, expected_version: 1 },
      { 'If-Match': '"2"' },
    )

    expectValidationError(res, 'expected_version')
    expect(await api.snapshot(created.status_id)).toEqual(before)
  })
})

describe('POST /api/status/:id/errors: invalid bodies', () => {
  test.each([
    ['no error_info', { should_retry: true }, 'error_info'],
    ['an empty error message', { error_info: '' }, 'error_info'],
    ['an error object without message', { error_info: { code: 'E1' } }, 'error_info'],
    ['an error object with an unknown field', { error_info: { message: 'x', stack: 'at …' } }, 'error_info'],
    ['error_info as a number', { error_info: 42 }, 'error_info'],
    ['details that are not an object', { error_info: { message: 'x', details: 'long text' } }, 'error_info'],
    ['should_retry as a string', { error_info: 'x', should_retry: 'yes' }, 'should_retry'],
    ['an unknown field', { error_info: 'x', retry: true }, ''],
  ])(
    'when the body has %s, then 400 validation-failed and the status is unchanged',
    async (_what, body, path) => {
      const created = await api.createOk({ status: 'processing' })
      const before = await api.snapshot(created.status_id)

      const res = await api.recordError(created.status_id, body)

      expectValidationError(res, path)
      expect(await api.snapshot(created.status_id)).toEqual(before)
    },
  )
})

describe('status ids in the URL', () => {
  const badIds = ['has%20space', 'x'.repeat(129), 'semi%3Bcolon']
  const routes: [string, (id: string) => ReturnType<typeof t.request.get>][] = [
    ['GET', (id) => t.request.get(`/api/status/${id}`)],
    ['PUT', (id) => t.request.put(`/api/status/${id}`).send({ progress_percentage: 1 })],
    ['DELETE', (id) => t.request.delete(`/api/status/${id}`)],
    ['POST errors', (id) => t.request.post(`/api/status/${id}/errors`).send({ error_info: 'x' })],
    ['POST cancel', (id) => t.request.post(`/api/status/${id}/cancel`)],
    ['GET history', (id) => t.request.get(`/api/status/${id}/history`)],
  ]
  const cases = routes.flatMap(([name, send]) => badIds.map((id) => [name, id, send] as const))

  test.each(cases)('when %s gets the id %s, then 400 validation-failed on id', async (_name, id, send) => {
    const res = await send(id).set(bearer(key))

    expectValidationError(res, 'id')
  })
})

describe('GET /api/status: invalid query parameters', () => {
  test.each([
    ['an unknown parameter', 'colour=red'],
    ['limit 0', 'limit=0'],
    ['limit 501', 'limit=501'],
    ['limit abc', 'limit=abc'],
    ['a fractional limit', 'limit=1.5'],
    ['an unknown sort key', 'sort=name'],
    ['an unknown descending sort key', 'sort=-colour'],
    ['a doubled minus', 'sort=--updated_at'],
    ['an unknown status', 'status=bogus'],
    ['one unknown status in a list', 'status=processing,bogus'],
    ['an empty status', 'status='],
    ['an unknown priority', 'priority=urgent'],
    ['include_total=yes', 'include_total=yes'],
    ['an empty kind', 'kind='],
    ['an empty limit', 'limit='],
    ['a blank progress_gte', 'progress_gte=%20'],
    ['an empty progress_lte', 'progress_lte='],
    ['a bad limit repeated before a good one', 'limit=abc&limit=5'],
    ['a bad kind repeated before a good one', 'kind=&kind=import'],
    ['a bad include_total repeated before a good one', 'include_total=yes&include_total=true'],
    ['a NUL in q', 'q=%00'],
    ['a NUL inside q', 'q=a%00b'],
    ['a NUL in kind', 'kind=%00'],
    ['a NUL in resource_id', 'resource_id=a%00'],
    ['a NUL in a tag', 'tag=ok,%00'],
  ])('when the query has %s, then 400 validation-failed', async (_what, query) => {
    const res = await api.list(query)

    expectValidationError(res)
  })

  test.each([
    'limit=1',
    'limit=500',
    'sort=priority',
    'sort=-status_id',
    'status=pending&priority=low&include_total=true',
    'limit=5&limit=10',
  ])('when the query is %s, then it is accepted', async (query) => {
    const res = await api.list(query)

    expect(res.status).toBe(200)
  })
})

describe('GET /api/events and its stream: blank numbers', () => {
  // Number('') is 0: without a check, `?after_seq=` would quietly read the feed from the start.
  test.each(['after_seq=', 'after_seq=%20', 'limit='])(
    'when the events query is %s, then 400 validation-failed',
    async (query) => {
      const res = await t.request.get(`/api/events?${query}`).set(bearer(key))

      expectValidationError(res, query.split('=')[0])
    },
  )

  test('when the stream is asked for since_seq=, then 400 validation-failed before any stream starts', async () => {
    const res = await t.request.get('/api/events/stream?since_seq=').set(bearer(key))

    expectValidationError(res, 'since_seq')
  })
})
