import type { StatusCreate } from '../../src/http/schemas/status'
import { expectValidationError, freshTenantApi, type StatusApi, type StatusJson } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

// A clock the tests set, so created_at / updated_at land exactly on the bounds being tested.
const T0 = Date.parse('2032-05-01T00:00:00.000Z')
let now = T0
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ clock: () => new Date(now) })
})
afterAll(() => t.close())
beforeEach(() => {
  now = T0
})

const iso = (ms: number) => new Date(ms).toISOString()
const idsOf = (res: { body: { items: StatusJson[] } }) => res.body.items.map((r) => r.status_id).sort()
const sortedIds = (records: StatusJson[]) => records.map((r) => r.status_id).sort()

/** Lists with `query` and returns the sorted ids; fails the test on anything but 200. */
async function listIds(api: StatusApi, query: string): Promise<string[]> {
  const res = await api.list(`${query}&limit=500`)
  expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 })
  expect(res.body.has_more).toBe(false)
  return idsOf(res)
}

async function createAt(api: StatusApi, at: number, overrides: Partial<StatusCreate> = {}) {
  now = at
  return api.createOk(overrides)
}

describe('GET /api/status: tag filter', () => {
  test('when tag is one tag, then only statuses carrying exactly that tag are listed', async () => {
    const api = await freshTenantApi(t, 'tags')
    const gpu = await api.createOk({ tags: ['gpu'] })
    const gpuAndEu = await api.createOk({ tags: ['eu', 'gpu'] })
    await api.createOk({ tags: ['cpu'] })
    await api.createOk({})

    expect(await listIds(api, 'tag=gpu')).toEqual(sortedIds([gpu, gpuAndEu]))
  })

  test('when tag is a comma list, then a status carrying any one of them is listed', async () => {
    const api = await freshTenantApi(t, 'tags')
    const a = await api.createOk({ tags: ['gpu'] })
    const b = await api.createOk({ tags: ['eu'] })
    const both = await api.createOk({ tags: ['eu', 'gpu'] })
    await api.createOk({ tags: ['us'] })

    expect(await listIds(api, 'tag=gpu,eu')).toEqual(sortedIds([a, b, both]))
    expect(await listIds(api, 'tag=gpu&tag=eu')).toEqual(sortedIds([a, b, both]))
  })

  test('when a tag is a part of a longer tag, then the longer tag does not match', async () => {
    const api = await freshTenantApi(t, 'tags')
    await api.createOk({ tags: ['gpu-large'] })
    await api.createOk({ tags: ['big-gpu'] })
    await api.createOk({ tags: ['xgpux', 'eu-west'] })
    const exact = await api.createOk({ tags: ['gpu-large', 'gpu'] })

    expect(await listIds(api, 'tag=gpu')).toEqual([exact.status_id])
    expect(await listIds(api, 'tag=eu')).toEqual([])
    expect(await listIds(api, 'tag=pu')).toEqual([])
  })

  test('when a tag holds LIKE wildcards or quotes, then they match only literally', async () => {
    const api = await freshTenantApi(t, 'tags')
    const percent = await api.createOk({ tags: ['50%'] })
    const underscore = await api.createOk({ tags: ['a_b'] })
    await api.createOk({ tags: ['50x', 'axb'] })

    expect(await listIds(api, `tag=${encodeURIComponent('50%')}`)).toEqual([percent.status_id])
    expect(await listIds(api, 'tag=a_b')).toEqual([underscore.status_id])
    expect(await listIds(api, `tag=${encodeURIComponent('%')}`)).toEqual([])
    expect(await listIds(api, 'tag=_')).toEqual([])
  })
})

describe('GET /api/status: progress filter', () => {
  test('when progress_gte and progress_lte are given, then both bounds are inclusive', async () => {
    const api = await freshTenantApi(t, 'progress')
    const records = await Promise.all(
      [0, 9.5, 10, 50, 90, 90.5, 100].map((p) => api.createOk({ progress_percentage: p })),
    )
    const withProgress = (keep: (p: number) => boolean) =>
      sortedIds(records.filter((r) => keep(r.progress_percentage)))

    expect(await listIds(api, 'progress_gte=10&progress_lte=90')).toEqual(
      withProgress((p) => p >= 10 && p <= 90),
    )
    expect(await listIds(api, 'progress_gte=10')).toEqual(withProgress((p) => p >= 10))
    expect(await listIds(api, 'progress_lte=90')).toEqual(withProgress((p) => p <= 90))
    expect(await listIds(api, 'progress_gte=50&progress_lte=50')).toEqual(withProgress((p) => p === 50))
    expect(await listIds(api, 'progress_gte=100')).toEqual(withProgress((p) => p === 100))
    expect(await listIds(api, 'progress_lte=0')).toEqual(withProgress((p) => p === 0))
  })
})

describe('GET /api/status: time filters', () => {
  test('when created_after and created_before are given, then both bounds are exclusive', async () => {
    const api = await freshTenantApi(t, 'created')
    const [a, b, c, d] = [
      await createAt(api, T0),
      await createAt(api, T0 + 1000),
      await createAt(api, T0 + 2000),
      await createAt(api, T0 + 3000),
    ]

    expect(await listIds(api, `created_after=${iso(T0)}`)).toEqual(sortedIds([b!, c!, d!]))
    expect(await listIds(api, `created_before=${iso(T0 + 3000)}`)).toEqual(sortedIds([a!, b!, c!]))
    expect(await listIds(api, `created_after=${iso(T0)}&created_before=${iso(T0 + 3000)}`)).toEqual(
      sortedIds([b!, c!]),
    )
    expect(await listIds(api, `created_after=${iso(T0 + 999)}&created_before=${iso(T0 + 1001)}`)).toEqual([
      b!.status_id,
    ])
  })

  test('when a time bound carries an offset, then it is the same instant as in UTC', async () => {
    const api = await freshTenantApi(t, 'created')
    await createAt(api, T0)
    const later = await createAt(api, T0 + 1000)

    // 2032-05-01T02:00:00+02:00 is T0 in UTC.
    expect(await listIds(api, `created_after=${encodeURIComponent('2032-05-01T02:00:00+02:00')}`)).toEqual([
      later.status_id,
    ])
  })

  test('when updated_after and updated_before are given, then they bound updated_at exclusively', async () => {
    const api = await freshTenantApi(t, 'updated')
    const [a, b, c] = [await createAt(api, T0), await createAt(api, T0), await createAt(api, T0)]
    now = T0 + 5000
    await api.updateOk(b!.status_id, { message: 'touched' })
    now = T0 + 9000
    await api.updateOk(c!.status_id, { message: 'touched again' })

    expect(await listIds(api, `updated_after=${iso(T0)}`)).toEqual(sortedIds([b!, c!]))
    expect(await listIds(api, `updated_after=${iso(T0 + 5000)}`)).toEqual([c!.status_id])
    expect(await listIds(api, `updated_before=${iso(T0 + 5000)}`)).toEqual([a!.status_id])
    expect(await listIds(api, `updated_after=${iso(T0)}&updated_before=${iso(T0 + 9000)}`)).toEqual([
      b!.status_id,
    ])
    // created_at did not move with the updates.
    expect(await listIds(api, `created_after=${iso(T0)}`)).toEqual([])
  })
})

describe('GET /api/status: q filter', () => {
  test('when q is given, then it matches a substring of status_id, message or resource_id', async () => {
    const api = await freshTenantApi(t, 'q')
    const byId = await api.createOk({ status_id: `alpha-needle-${Date.now()}`, resource_id: 'r:1' })
    const byMessage = await api.createOk({ message: 'found a needle here', resource_id: 'r:2' })
    const byResource = await api.createOk({ resource_id: 'bucket:needle/7' })
    await api.createOk({ message: 'a haystack', resource_id: 'r:3', kind: 'needle' })
    await api.createOk({ tags: ['needle'], resource_id: 'r:4' })

    expect(await listIds(api, 'q=needle')).toEqual(sortedIds([byId, byMessage, byResource]))
  })

  test('when q differs from the stored text only in ASCII case, then it still matches', async () => {
    const api = await freshTenantApi(t, 'q')
    const byMessage = await api.createOk({ message: 'Transcoding FINISHED soon', resource_id: 'r:1' })
    const byResource = await api.createOk({ resource_id: 'Video:Upper' })
    await api.createOk({ message: 'other', resource_id: 'r:2' })

    expect(await listIds(api, 'q=finished')).toEqual([byMessage.status_id])
    expect(await listIds(api, 'q=tRaNsCoDiNg')).toEqual([byMessage.status_id])
    expect(await listIds(api, 'q=VIDEO%3AUPPER')).toEqual([byResource.status_id])
  })

  test('when q holds LIKE wildcards, then they match only literally', async () => {
    const api = await freshTenantApi(t, 'q')
    const literal = await api.createOk({ message: 'done 100% of a_b', resource_id: 'r:1' })
    await api.createOk({ message: 'done 1000 of axb', resource_id: 'r:2' })

    expect(await listIds(api, `q=${encodeURIComponent('100%')}`)).toEqual([literal.status_id])
    expect(await listIds(api, 'q=a_b')).toEqual([literal.status_id])
    expect(await listIds(api, `q=${encodeURIComponent('%')}`)).toEqual([literal.status_id])
  })
})

describe('GET /api/status: composing filters', () => {
  test('when several new filters are given, then a status must match every parameter (AND), and any value of a list (OR)', async () => {
    const api = await freshTenantApi(t, 'compose')
    const specs: [number, Partial<StatusCreate>][] = [
      [
        T0,
        { status: 'processing', priority: 'high', tags: ['gpu'], progress_percentage: 40, message: 'hit' },
      ],
      [
        T0 + 1000,
        { status: 'pending', priority: 'critical', tags: ['eu'], progress_percentage: 60, message: 'hit' },
      ],
      [
        T0 + 1000,
        { status: 'processing', priority: 'low', tags: ['gpu'], progress_percentage: 50, message: 'hit' },
      ],
      [
        T0 + 1000,
        { status: 'processing', priority: 'high', tags: ['us'], progress_percentage: 50, message: 'hit' },
      ],
      [
        T0 + 1000,
        { status: 'processing', priority: 'high', tags: ['gpu'], progress_percentage: 95, message: 'hit' },
      ],
      [
        T0 + 1000,
        { status: 'processing', priority: 'high', tags: ['gpu'], progress_percentage: 50, message: 'miss' },
      ],
      [
        T0 + 2000,
        { status: 'processing', priority: 'high', tags: ['eu'], progress_percentage: 50, message: 'hit' },
      ],
    ]
    const records: StatusJson[] = []
    for (const [at, spec] of specs) records.push(await createAt(api, at, { resource_id: 'r:x', ...spec }))

    const ids = await listIds(
      api,
      `status=processing,pending&priority=high,critical&tag=gpu,eu&progress_gte=10&progress_lte=90` +
        `&created_after=${iso(T0)}&q=hit`,
    )

    // Only 2 (pending/critical/eu/60) and 7 (processing/high/eu/50 at T0+2000) satisfy every parameter.
    expect(ids).toEqual(sortedIds([records[1]!, records[6]!]))
  })

  test('when include_total=true with filters, then total counts the matching rows across all pages', async () => {
    const api = await freshTenantApi(t, 'total')
    for (let i = 0; i < 7; i++)
      await api.createOk({ tags: [i % 2 === 0 ? 'even' : 'odd'], progress_percentage: i * 10 })

    const first = await api.list('tag=even&progress_gte=10&include_total=true&limit=1')
    expect(first.status).toBe(200)
    // even i with progress >= 10: i = 2, 4, 6.
    expect(first.body).toMatchObject({ total: 3, has_more: true })
    expect(first.body.items).toHaveLength(1)

    const second = await api.list(
      `tag=even&progress_gte=10&include_total=true&limit=1&cursor=${encodeURIComponent(first.body.next_cursor)}`,
    )
    expect(second.status).toBe(200)
    expect(second.body.total).toBe(3)

    const none = await api.list('tag=missing&include_total=true')
    expect(none.body).toMatchObject({ total: 0, items: [], has_more: false, next_cursor: null })
  })

  test('when another tenant has matching statuses, then filtered lists and totals never include them', async () => {
    const mine = await freshTenantApi(t, 'iso')
    const theirs = await freshTenantApi(t, 'iso')
    const own = await mine.createOk({ tags: ['shared'], message: 'shared text', progress_percentage: 50 })
    await theirs.createOk({ tags: ['shared'], message: 'shared text', progress_percentage: 50 })
    await theirs.createOk({ tags: ['shared'], message: 'shared text', progress_percentage: 50 })

    const res = await mine.list('tag=shared&q=shared&progress_gte=50&include_total=true')

    expect(res.status).toBe(200)
    expect(idsOf(res)).toEqual([own.status_id])
    expect(res.body.total).toBe(1)
  })
})

describe('GET /api/status: invalid filters', () => {
  const cases: [string, string, string][] = [
    ['an empty tag', 'tag=', 'tag'],
    ['a tag of only commas', 'tag=,,', 'tag'],
    ['a tag longer than 64 characters', `tag=ok,${'x'.repeat(65)}`, 'tag.1'],
    ['more than 20 tags', `tag=${Array.from({ length: 21 }, (_, i) => `t${i}`).join(',')}`, 'tag'],
    ['progress_gte above 100', 'progress_gte=101', 'progress_gte'],
    ['progress_gte below 0', 'progress_gte=-1', 'progress_gte'],
    ['progress_gte that is not a number', 'progress_gte=abc', 'progress_gte'],
    ['progress_lte above 100', 'progress_lte=101', 'progress_lte'],
    ['progress_gte above progress_lte', 'progress_gte=60&progress_lte=40', 'progress_gte'],
    ['created_after that is not RFC 3339', 'created_after=yesterday', 'created_after'],
    ['created_after without an offset', 'created_after=2032-05-01T00:00:00', 'created_after'],
    ['created_before as a bare date', 'created_before=2032-05-01', 'created_before'],
    ['updated_after that is not RFC 3339', 'updated_after=1700000000', 'updated_after'],
    ['updated_before without an offset', 'updated_before=2032-05-01T00:00:00', 'updated_before'],
    [
      'created_after equal to created_before',
      `created_after=${iso(T0)}&created_before=${iso(T0)}`,
      'created_after',
    ],
    [
      'created_after later than created_before',
      `created_after=${iso(T0 + 1)}&created_before=${iso(T0)}`,
      'created_after',
    ],
    [
      'updated_after equal to updated_before',
      `updated_after=${iso(T0)}&updated_before=${iso(T0)}`,
      'updated_after',
    ],
    ['an empty q', 'q=', 'q'],
    ['a q longer than 128 characters', `q=${'q'.repeat(129)}`, 'q'],
    ['an unknown parameter', 'colour=red', ''],
  ]

  test.each(cases)(
    'when the list is given %s, then 400 validation-failed naming it',
    async (_name, query, path) => {
      const api = await freshTenantApi(t, 'bad')
      await api.createOk({ tags: ['x'] })

      const res = await api.list(query)

      expectValidationError(res, path)
      expect(res.body.items).toBeUndefined()
    },
  )

  test('when the limits themselves are given, then they are accepted', async () => {
    const api = await freshTenantApi(t, 'edge')
    const res = await api.list(
      `tag=${Array.from({ length: 20 }, (_, i) => `t${i}`.padEnd(64, 'x')).join(',')}&q=${'q'.repeat(128)}` +
        `&progress_gte=0&progress_lte=0&created_after=${iso(T0)}&created_before=${iso(T0 + 1)}`,
    )
    expect({ status: res.status, items: res.body.items }).toEqual({ status: 200, items: [] })
  })
})

describe('GET /api/stats with filters', () => {
  test('when filters are given, then only matching statuses are counted', async () => {
    const api = await freshTenantApi(t, 'stats')
    await createAt(api, T0, {
      status: 'processing',
      priority: 'high',
      tags: ['gpu'],
      progress_percentage: 20,
    })
    await createAt(api, T0 + 1000, {
      status: 'pending',
      priority: 'low',
      tags: ['gpu'],
      progress_percentage: 0,
    })
    await createAt(api, T0 + 1000, {
      status: 'processing',
      priority: 'high',
      tags: ['cpu'],
      progress_percentage: 80,
    })
    await createAt(api, T0 + 2000, {
      status: 'completed',
      priority: 'critical',
      tags: ['gpu'],
      message: 'needle',
    })

    const res = await t.request
      .get('/api/stats')
      .query({ tag: 'gpu', created_after: iso(T0) })
      .set(bearer(api.key))

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      total: 2,
      by_status: { pending: 1, completed: 1, processing: 0 },
      by_priority: { low: 1, critical: 1, high: 0, normal: 0 },
    })

    const byQ = await t.request.get('/api/stats').query({ q: 'NEEDLE' }).set(bearer(api.key))
    expect(byQ.body).toMatchObject({ total: 1, by_status: { completed: 1 } })

    const byProgress = await t.request
      .get('/api/stats')
      .query({ progress_gte: '20', progress_lte: '80', status: 'processing' })
      .set(bearer(api.key))
    expect(byProgress.body).toMatchObject({ total: 2, by_priority: { high: 2 } })

    const unfiltered = await api.stats()
    expect(unfiltered.body.total).toBe(4)
  })

  test.each([
    ['progress_gte=101', 'progress_gte'],
    ['tag=', 'tag'],
    ['created_after=yesterday', 'created_after'],
    [`updated_after=${iso(T0)}&updated_before=${iso(T0)}`, 'updated_after'],
    ['q=', 'q'],
    ['sort=status_id', ''],
    ['colour=red', ''],
  ])('when stats gets the bad filter %s, then 400 validation-failed', async (query, path) => {
    const api = await freshTenantApi(t, 'stats-bad')
    const res = await t.request.get(`/api/stats?${query}`).set(bearer(api.key))
    expectValidationError(res, path)
  })
})
