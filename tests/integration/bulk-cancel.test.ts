import { buildOpenApiDocument } from '../../src/http/openapi'
import type { StatusCreate } from '../../src/http/schemas/status'
import {
  expectProblem,
  expectValidationError,
  statusApi,
  type StatusApi,
  type StatusJson,
} from '../helpers/status-api'
import { makeStatus } from '../helpers/factories'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import { freshTenantName } from '../helpers/tenants'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

/** The pattern the API description gives one value of the `tag` filter. */
function tagValuePattern(): string {
  const op = buildOpenApiDocument().paths?.['/api/status/cancel']?.post
  const tag = op?.parameters?.find((p) => 'name' in p && p.name === 'tag')
  const schema = tag && 'schema' in tag ? (tag.schema as { items: { pattern: string } }) : undefined
  return schema!.items.pattern
}

async function freshTenant(): Promise<{ tenant: string; api: StatusApi }> {
  const tenant = freshTenantName('bulk')
  return { tenant, api: statusApi(t, await t.makeKey(tenant)) }
}

const bulkCancel = (api: StatusApi, query = '') =>
  t.request.post(`/api/status/cancel${query ? `?${query}` : ''}`).set(bearer(api.key))

async function statusOf(api: StatusApi, id: string): Promise<string> {
  const res = await api.get(id)
  expect(res.status).toBe(200)
  return (res.body as StatusJson).status
}

async function cancelledEventIds(tenant: string): Promise<string[]> {
  const rows = await t.prisma.statusEvent.findMany({
    where: { tenantId: tenant, type: 'status.cancelled' },
    select: { statusId: true },
  })
  return rows.map((r) => r.statusId).sort()
}

/** One status in each state; returns them by state. */
async function seedEveryState(api: StatusApi, extra: Partial<StatusCreate> = {}) {
  const states = [
    'pending',
    'starting',
    'processing',
    'retry_pending',
    'completed',
    'failed',
    'cancelled',
  ] as const
  const byState: Record<string, StatusJson[]> = {}
  for (const status of states) {
    for (let i = 0; i < 2; i++) {
      const record = await api.createOk({ status, ...extra })
      ;(byState[status] ??= []).push(record)
    }
  }
  return byState
}

describe('POST /api/status/cancel', () => {
  test('when filtering by status=processing, then exactly the processing statuses are cancelled, each with an event', async () => {
    const { tenant, api } = await freshTenant()
    const byState = await seedEveryState(api)
    const processing = byState.processing!.map((r) => r.status_id).sort()

    const res = await bulkCancel(api, 'status=processing')

    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { cancelled: 2 } })
    for (const [state, records] of Object.entries(byState)) {
      for (const r of records) {
        expect({ id: r.status_id, status: await statusOf(api, r.status_id) }).toEqual({
          id: r.status_id,
          status: state === 'processing' ? 'cancelled' : state,
        })
      }
    }
    expect(await cancelledEventIds(tenant)).toEqual(processing)
  })

  test('when the filter matches no live status, then nothing changes and cancelled is 0', async () => {
    const { tenant, api } = await freshTenant()
    const byState = await seedEveryState(api)

    const res = await bulkCancel(api, 'status=completed,failed')

    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { cancelled: 0 } })
    for (const [state, records] of Object.entries(byState))
      for (const r of records) expect(await statusOf(api, r.status_id)).toBe(state)
    expect(await cancelledEventIds(tenant)).toEqual([])
  })

  test('when a non-status filter matches terminal statuses too, then only the live ones are cancelled', async () => {
    const { api } = await freshTenant()
    const byState = await seedEveryState(api, { kind: 'doomed' })
    const other = await api.createOk({ status: 'processing', kind: 'kept' })

    const res = await bulkCancel(api, 'kind=doomed')

    expect(res.body).toEqual({ cancelled: 8 })
    for (const state of ['completed', 'failed'])
      for (const r of byState[state]!) {
        const after = (await api.get(r.status_id)).body as StatusJson
        expect({ status: after.status, version: after.version }).toEqual({
          status: state,
          version: r.version,
        })
      }
    expect(await statusOf(api, other.status_id)).toBe('processing')
  })

  test('when the filter is a JSON body, then it works like the query form', async () => {
    const { tenant, api } = await freshTenant()
    const high = await api.createOk({ status: 'processing', priority: 'high' })
    const highPending = await api.createOk({ status: 'pending', priority: 'high' })
    const low = await api.createOk({ status: 'processing', priority: 'low' })
    const highDone = await api.createOk({ status: 'completed', priority: 'high' })

    const res = await t.request
      .post('/api/status/cancel')
      .set(bearer(api.key))
      .send({ priority: ['high'] })

    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { cancelled: 2 } })
    expect(await statusOf(api, high.status_id)).toBe('cancelled')
    expect(await statusOf(api, highPending.status_id)).toBe('cancelled')
    expect(await statusOf(api, low.status_id)).toBe('processing')
    expect(await statusOf(api, highDone.status_id)).toBe('completed')
    expect(await cancelledEventIds(tenant)).toEqual([high.status_id, highPending.status_id].sort())
  })

  test('when the body combines filters, then a status must match all of them', async () => {
    const { api } = await freshTenant()
    const hit = await api.createOk({ status: 'processing', tags: ['gpu'], progress_percentage: 30 })
    const wrongTag = await api.createOk({ status: 'processing', tags: ['cpu'], progress_percentage: 30 })
    const tooFar = await api.createOk({ status: 'processing', tags: ['gpu'], progress_percentage: 80 })

    const res = await t.request
      .post('/api/status/cancel')
      .set(bearer(api.key))
      .send({ tag: ['gpu'], progress_lte: 50 })

    expect(res.body).toEqual({ cancelled: 1 })
    expect(await statusOf(api, hit.status_id)).toBe('cancelled')
    expect(await statusOf(api, wrongTag.status_id)).toBe('processing')
    expect(await statusOf(api, tooFar.status_id)).toBe('processing')
  })

  test('when the filter is given both as query parameters and as a body, then 400 and nothing changes', async () => {
    const { tenant, api } = await freshTenant()
    const live = await api.createOk({ status: 'processing', priority: 'high' })

    const res = await t.request
      .post('/api/status/cancel?status=processing')
      .set(bearer(api.key))
      .send({ priority: ['high'] })

    expectValidationError(res)
    expect(await statusOf(api, live.status_id)).toBe('processing')
    expect(await cancelledEventIds(tenant)).toEqual([])
  })

  test.each([
    ['no query and no body', (api: StatusApi) => bulkCancel(api)],
    ['an empty JSON body', (api: StatusApi) => bulkCancel(api).send({})],
  ])('when there is no filter (%s), then 400 filter-required and nothing changes', async (_name, send) => {
    const { tenant, api } = await freshTenant()
    const live = await api.createOk({ status: 'processing' })

    const res = await send(api)

    expectProblem(res, 400, 'filter-required')
    expect(await statusOf(api, live.status_id)).toBe('processing')
    expect(await cancelledEventIds(tenant)).toEqual([])
  })

  test.each([
    ['status=bogus', 'status.0'],
    ['progress_gte=101', 'progress_gte'],
    ['colour=red', ''],
    // SQLite's string functions stop at U+0000: q=%00 matched, and cancelled, every live status.
    ['q=%00', 'q'],
    ['q=%00%20%20', 'q'],
    ['kind=%00', 'kind'],
  ])('when the filter %s is invalid, then 400 validation-failed', async (query, path) => {
    const { api } = await freshTenant()
    const live = await api.createOk({ status: 'processing' })

    expectValidationError(await bulkCancel(api, query), path)
    expect(await statusOf(api, live.status_id)).toBe('processing')
  })

  // The body's numbers went through the query string's coercion, where Number(null) is 0.
  test.each([null, true, '', {}])(
    'when the body filter has progress_gte %p, then 400 validation-failed and nothing changes',
    async (value) => {
      const { tenant, api } = await freshTenant()
      const live = await api.createOk({ status: 'processing', kind: 'bulk-body' })

      const res = await bulkCancel(api).send({ kind: 'bulk-body', progress_gte: value })

      expectValidationError(res, 'progress_gte')
      expect(await statusOf(api, live.status_id)).toBe('processing')
      expect(await cancelledEventIds(tenant)).toEqual([])
    },
  )

  // A body's list was joined as a repeated parameter's would be: [{}] became the tag "[object Object]".
  test.each([
    [[{}], 'tag.0'],
    [[1], 'tag.0'],
    [['a', null], 'tag.1'],
  ])(
    'when the body filter has tag %j, then 400 validation-failed at %s and nothing changes',
    async (value, path) => {
      const { tenant, api } = await freshTenant()
      const live = await api.createOk({
        status: 'processing',
        kind: 'bulk-body',
        tags: ['[object Object]', '1'],
      })

      const res = await bulkCancel(api).send({ kind: 'bulk-body', tag: value })

      expectValidationError(res, path)
      expect(await statusOf(api, live.status_id)).toBe('processing')
      expect(await cancelledEventIds(tenant)).toEqual([])
    },
  )

  // A body has JSON's types and is taken as it is: it was read as query text, so "a" passed for a list,
  // "50" for a number, and a comma inside a list's value split it.
  test.each([
    ['tag', 'gpu'],
    ['tag.0', ['a,gpu']],
    ['status', 'processing'],
    ['progress_gte', '10'],
    ['kind', ['bulk-body']],
  ])(
    'when the body filter has %s %j (query text, not JSON), then 400 and nothing changes',
    async (name, value) => {
      const { tenant, api } = await freshTenant()
      const live = await api.createOk({ status: 'processing', kind: 'bulk-body', tags: ['gpu'] })

      const res = await bulkCancel(api).send({ kind: 'bulk-body', [name.split('.')[0]]: value })

      expectValidationError(res, name)
      expect(await statusOf(api, live.status_id)).toBe('processing')
      expect(await cancelledEventIds(tenant)).toEqual([])
    },
  )

  // Spaces and commas only separate a list's values, so these name none. The API description's pattern
  // for a value says so (a fuzzed body of [" "] was valid by the description, and refused).
  test.each([
    ['body', { tag: [' '] }, /more than spaces/],
    ['body', { tag: [','] }, /no comma/],
    ['query', 'tag=%20', /at least one value/],
    ['query', 'tag=%20,%20&tag=,', /at least one value/],
  ])(
    'when the %s filter has tag %j, then 400 saying so, and nothing changes',
    async (_place, filter, message) => {
      const { tenant, api } = await freshTenant()
      const live = await api.createOk({ status: 'processing', kind: 'bulk-body', tags: [' ', ','] })

      const res =
        typeof filter === 'string'
          ? await bulkCancel(api, `kind=bulk-body&${filter}`)
          : await bulkCancel(api).send({ kind: 'bulk-body', ...filter })

      expectValidationError(res)
      expect(res.body.errors.map((e: { message: string }) => e.message).join()).toMatch(message)
      expect(await statusOf(api, live.status_id)).toBe('processing')
      expect(await cancelledEventIds(tenant)).toEqual([])
    },
  )

  test('the API description refuses the values a list drops, and takes the ones it keeps', () => {
    const value = new RegExp(tagValuePattern())
    expect([' ', ',', ' , ', 'a,b'].filter((v) => value.test(v))).toEqual([])
    expect([' a', 'a b', 'é', '%_'].filter((v) => value.test(v))).toEqual([' a', 'a b', 'é', '%_'])
  })

  test('when the key is read-only, then 403 and nothing changes', async () => {
    const { tenant, api } = await freshTenant()
    const live = await api.createOk({ status: 'processing' })
    const readOnly = await t.makeKey(tenant, ['status:read'])

    const res = await t.request.post('/api/status/cancel?status=processing').set(bearer(readOnly))

    expect(res.status).toBe(403)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(await statusOf(api, live.status_id)).toBe('processing')
  })

  test('when another tenant has matching statuses, then they are untouched', async () => {
    const mine = await freshTenant()
    const theirs = await freshTenant()
    const own = await mine.api.createOk({ status: 'processing' })
    const foreign = await theirs.api.createOk({ status: 'processing' })

    const res = await bulkCancel(mine.api, 'status=processing')

    expect(res.body).toEqual({ cancelled: 1 })
    expect(await statusOf(mine.api, own.status_id)).toBe('cancelled')
    expect(await statusOf(theirs.api, foreign.status_id)).toBe('processing')
    expect(await cancelledEventIds(theirs.tenant)).toEqual([])
  })

  test('when more than 1,000 statuses match, then every one is cancelled', async () => {
    const { tenant, api } = await freshTenant()
    const n = 1200
    for (let i = 0; i < n; i++) {
      await t.services.statuses.create(tenant, {
        ...makeStatus({ status: i % 2 ? 'processing' : 'pending' }),
        kind: 'many',
      })
    }
    const bystander = await api.createOk({ status: 'processing', kind: 'other' })

    const res = await bulkCancel(api, 'kind=many')

    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { cancelled: n } })
    const left = await t.prisma.status.count({
      where: { tenantId: tenant, kind: 'many', NOT: { status: 'cancelled' } },
    })
    expect(left).toBe(0)
    expect(await t.prisma.status.count({ where: { tenantId: tenant, status: 'cancelled' } })).toBe(n)
    expect((await cancelledEventIds(tenant)).length).toBe(n)
    expect(await statusOf(api, bystander.status_id)).toBe('processing')

    const again = await bulkCancel(api, 'kind=many')
    expect(again.body).toEqual({ cancelled: 0 })
  }, 60_000)
})
