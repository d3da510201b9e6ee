import type { StatusCreate } from '../../src/http/schemas/status'
import { expectProblem, freshTenantApi, type StatusApi, type StatusJson } from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'

// A clock the tests set, so timestamps tie on purpose and the status_id tie-break is exercised.
const T0 = Date.parse('2031-03-01T00:00:00.000Z')
let now = T0
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ clock: () => new Date(now) })
})
afterAll(() => t.close())
beforeEach(() => {
  now = T0
})

const SORT_KEYS = ['created_at', 'updated_at', 'priority', 'progress_percentage', 'status_id'] as const
type SortKey = (typeof SORT_KEYS)[number]
const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const
const sortCases = SORT_KEYS.flatMap((key) => [key, `-${key}`])

const compare = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0)
const sortValue = (r: StatusJson, key: SortKey) =>
  key === 'priority' ? PRIORITIES.indexOf(r.priority as (typeof PRIORITIES)[number]) : r[key]

/** What the API should return for `sort`: by the key, ties by status_id, both in the sort's direction. */
function sortedIds(records: StatusJson[], sort: string): string[] {
  const descending = sort.startsWith('-')
  const key = sort.replace(/^-/, '') as SortKey
  return [...records]
    .sort((a, b) => {
      const c = compare(sortValue(a, key), sortValue(b, key)) || compare(a.status_id, b.status_id)
      return descending ? -c : c
    })
    .map((r) => r.status_id)
}

/** Twelve statuses whose timestamps, priorities and progress values tie in groups; returns them as stored. */
async function seedVariedStatuses(api: StatusApi): Promise<StatusJson[]> {
  const ids: string[] = []
  for (let i = 0; i < 12; i++) {
    now = T0 + Math.floor(i / 3) * 1000
    const created = await api.createOk({
      status: 'processing',
      priority: PRIORITIES[i % 4],
      progress_percentage: (i % 3) * 25,
    })
    ids.push(created.status_id)
  }
  for (const [n, i] of [0, 4, 7, 11].entries()) {
    now = T0 + 60_000 + Math.floor(n / 2) * 1000
    await api.updateOk(ids[i]!, { message: `touched ${n}` })
  }
  now = T0 + 120_000
  return Promise.all(ids.map(async (id) => (await api.get(id)).body as StatusJson))
}

/** Follows next_cursor to the end and returns the ids in order plus each page's shape. */
async function pageThrough(api: StatusApi, query: string, limit: number) {
  const ids: string[] = []
  const pages: { size: number; has_more: boolean; next_cursor: string | null }[] = []
  let cursor: string | null = null
  do {
    const res = await api.list(
      `${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    )
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 })
    ids.push(...res.body.items.map((r: StatusJson) => r.status_id))
    pages.push({
      size: res.body.items.length,
      has_more: res.body.has_more,
      next_cursor: res.body.next_cursor,
    })
    cursor = res.body.next_cursor
  } while (cursor !== null)
  return { ids, pages }
}

const idsOf = (res: { body: { items: StatusJson[] } }) => res.body.items.map((r) => r.status_id)
const sortedSet = (ids: string[]) => [...ids].sort()

describe('GET /api/status: filters', () => {
  async function seedMix(api: StatusApi) {
    const specs: Partial<StatusCreate>[] = [
      { status: 'pending', priority: 'low', kind: 'video.transcode', resource_id: 'video:1' },
      { status: 'processing', priority: 'high', kind: 'video.transcode', resource_id: 'video:2' },
      { status: 'processing', priority: 'critical', kind: 'report.build', resource_id: 'report:1' },
      { status: 'retry_pending', priority: 'normal', kind: 'video.transcode', resource_id: 'video:1' },
      { status: 'completed', priority: 'high', kind: 'import', resource_id: 'file:9' },
      { status: 'failed', priority: 'critical', kind: 'report.build', resource_id: 'report:2' },
    ]
    return Promise.all(specs.map((spec) => api.createOk(spec)))
  }
  const pick = (records: StatusJson[], keep: (r: StatusJson) => boolean) =>
    sortedSet(records.filter(keep).map((r) => r.status_id))

  test('when status is a comma list, then only statuses in one of those states are listed', async () => {
    const api = await freshTenantApi(t, 'list')
    const records = await seedMix(api)

    const res = await api.list('status=processing,retry_pending')

    expect(res.status).toBe(200)
    expect(sortedSet(idsOf(res))).toEqual(
      pick(records, (r) => ['processing', 'retry_pending'].includes(r.status)),
    )
    expect(res.body.items).toHaveLength(3)
  })

  test('when status is a repeated parameter, then it means the same as the comma list', async () => {
    const api = await freshTenantApi(t, 'list')
    await seedMix(api)

    const [repeated, comma] = [
      await api.list('status=processing&status=retry_pending'),
      await api.list('status=processing,retry_pending'),
    ]

    expect(repeated.status).toBe(200)
    expect(repeated.body).toEqual(comma.body)
  })

  test('when priority is filtered, then only those priorities are listed', async () => {
    const api = await freshTenantApi(t, 'list')
    const records = await seedMix(api)

    const res = await api.list('priority=high,critical')

    expect(sortedSet(idsOf(res))).toEqual(pick(records, (r) => ['high', 'critical'].includes(r.priority)))
    expect(res.body.items).toHaveLength(4)
  })

  test('when kind is filtered, then only that kind is listed', async () => {
    const api = await freshTenantApi(t, 'list')
    const records = await seedMix(api)

    const res = await api.list('kind=report.build')

    expect(sortedSet(idsOf(res))).toEqual(pick(records, (r) => r.kind === 'report.build'))
    expect(res.body.items).toHaveLength(2)
  })

  test('when resource_id is filtered, then only statuses of that resource are listed', async () => {
    const api = await freshTenantApi(t, 'list')
    const records = await seedMix(api)

    const res = await api.list('resource_id=video%3A1')

    expect(sortedSet(idsOf(res))).toEqual(pick(records, (r) => r.resource_id === 'video:1'))
    expect(res.body.items).toHaveLength(2)
  })

  test('when several filters are combined, then a status must match all of them', async () => {
    const api = await freshTenantApi(t, 'list')
    const records = await seedMix(api)

    const res = await api.list('status=processing,failed&priority=critical&kind=report.build')

    expect(sortedSet(idsOf(res))).toEqual(
      pick(
        records,
        (r) =>
          ['processing', 'failed'].includes(r.status) &&
          r.priority === 'critical' &&
          r.kind === 'report.build',
      ),
    )
    expect(res.body.items).toHaveLength(2)
  })

  test('when nothing matches, then an empty page without a cursor', async () => {
    const api = await freshTenantApi(t, 'list')
    await seedMix(api)

    const res = await api.list('status=cancelled')

    expect(res.status).toBe(200)
    expect(res.body).toEqual({ items: [], next_cursor: null, has_more: false })
  })

  test('when listing, then items are the full records as GET returns them', async () => {
    const api = await freshTenantApi(t, 'list')
    const created = await api.createOk({ metadata: { a: 1 }, tags: ['x'] })

    const res = await api.list()

    expect(res.body.items).toEqual([(await api.get(created.status_id)).body])
  })

  test('when another tenant has statuses, then they are never listed', async () => {
    const mine = await freshTenantApi(t, 'list-mine')
    const theirs = await freshTenantApi(t, 'list-theirs')
    const own = await mine.createOk()
    await theirs.createOk()

    const res = await mine.list()

    expect(idsOf(res)).toEqual([own.status_id])
  })
})

describe('GET /api/status: sorting and paging', () => {
  test.each(sortCases)(
    'when sorted by %s, then rows follow that key with ties broken by status_id',
    async (sort) => {
      const api = await freshTenantApi(t, 'sort')
      const records = await seedVariedStatuses(api)

      const res = await api.list(`sort=${sort}&limit=500`)

      expect(res.status).toBe(200)
      expect(idsOf(res)).toEqual(sortedIds(records, sort))
    },
  )

  test('when no sort is given, then the default is -updated_at', async () => {
    const api = await freshTenantApi(t, 'sort')
    const records = await seedVariedStatuses(api)

    const res = await api.list()

    expect(idsOf(res)).toEqual(sortedIds(records, '-updated_at'))
  })

  test.each(sortCases)(
    'when paging by %s with limit 5, then every row comes exactly once in order',
    async (sort) => {
      const api = await freshTenantApi(t, 'page')
      const records = await seedVariedStatuses(api)

      const { ids, pages } = await pageThrough(api, `sort=${sort}`, 5)

      expect(ids).toEqual(sortedIds(records, sort))
      expect(pages.map((p) => [p.size, p.has_more])).toEqual([
        [5, true],
        [5, true],
        [2, false],
      ])
      expect(pages[2]!.next_cursor).toBeNull()
    },
  )

  test('when paging through a filtered list, then every matching row comes exactly once', async () => {
    const api = await freshTenantApi(t, 'page')
    const records = await seedVariedStatuses(api)
    const high = records.filter((r) => r.priority === 'high' || r.priority === 'critical')

    const { ids } = await pageThrough(api, 'priority=high,critical&sort=progress_percentage', 2)

    expect(ids).toEqual(sortedIds(high, 'progress_percentage'))
  })

  test('when the limit changes between pages, then the cursor still continues where it left off', async () => {
    const api = await freshTenantApi(t, 'page')
    const records = await seedVariedStatuses(api)
    const first = await api.list('sort=status_id&limit=2')

    const second = await api.list(
      `sort=status_id&limit=4&cursor=${encodeURIComponent(first.body.next_cursor)}`,
    )

    expect([...idsOf(first), ...idsOf(second)]).toEqual(sortedIds(records, 'status_id').slice(0, 6))
  })

  test('when rows are inserted between pages, then the walk neither skips nor repeats the rows it started with', async () => {
    const api = await freshTenantApi(t, 'page')
    for (const id of ['id-01', 'id-02', 'id-03', 'id-04', 'id-05', 'id-06'])
      await api.createOk({ status_id: id })
    const first = await api.list('sort=status_id&limit=3')

    await api.createOk({ status_id: 'id-00' })
    await api.createOk({ status_id: 'id-04a' })
    const rest = await pageThrough(
      api,
      `sort=status_id&cursor=${encodeURIComponent(first.body.next_cursor)}`,
      3,
    )

    expect(idsOf(first)).toEqual(['id-01', 'id-02', 'id-03'])
    expect(rest.ids).toEqual(['id-04', 'id-04a', 'id-05', 'id-06'])
  })

  test('when there are more than 50 rows and no limit, then the first page holds 50', async () => {
    const api = await freshTenantApi(t, 'page')
    await Promise.all(Array.from({ length: 51 }, () => api.createOk()))

    const res = await api.list()

    expect(res.body.items).toHaveLength(50)
    expect(res.body.has_more).toBe(true)
  })
})

describe('GET /api/status: include_total and cursors', () => {
  test('when include_total=true, then every page carries the count of all matching rows', async () => {
    const api = await freshTenantApi(t, 'total')
    await seedVariedStatuses(api)

    const first = await api.list('priority=low,normal&include_total=true&limit=2')
    const second = await api.list(
      `priority=low,normal&include_total=true&limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`,
    )

    expect([first.body.total, second.body.total]).toEqual([6, 6])
  })

  test.each(['', 'include_total=false'])('when the query is "%s", then no total is sent', async (query) => {
    const api = await freshTenantApi(t, 'total')
    await api.createOk()

    const res = await api.list(query)

    expect(res.status).toBe(200)
    expect(res.body).not.toHaveProperty('total')
  })

  test('when the cursor is tampered with, then 400 invalid-cursor', async () => {
    const api = await freshTenantApi(t, 'cursor')
    await seedVariedStatuses(api)
    const cursor = (await api.list('limit=2')).body.next_cursor as string
    const [body, mac] = cursor.split('.')
    const decoded = JSON.parse(Buffer.from(body!, 'base64url').toString('utf8'))
    const forgedBody = Buffer.from(
      JSON.stringify({ ...decoded, p: ['2000-01-01T00:00:00.000Z', 'a'] }),
    ).toString('base64url')

    const results = await Promise.all(
      [`${forgedBody}.${mac}`, `${body}.${mac!.split('').reverse().join('')}`, 'not-a-cursor', `.${mac}`].map(
        (c) => api.list(`limit=2&cursor=${encodeURIComponent(c)}`),
      ),
    )

    for (const res of results) expectProblem(res, 400, 'invalid-cursor')
  })

  test.each([
    ['another filter', 'status=processing'],
    ['another sort', 'sort=status_id'],
    ['another direction', 'sort=updated_at'],
  ])('when a cursor is reused with %s, then 400 invalid-cursor', async (_what, query) => {
    const api = await freshTenantApi(t, 'cursor')
    await seedVariedStatuses(api)
    const cursor = (await api.list('limit=2')).body.next_cursor as string

    const res = await api.list(`${query}&limit=2&cursor=${encodeURIComponent(cursor)}`)

    expectProblem(res, 400, 'invalid-cursor')
  })

  test('when a history cursor is used for a list, then 400 invalid-cursor', async () => {
    const api = await freshTenantApi(t, 'cursor')
    const created = await api.createOk({ status: 'processing' })
    await api.updateOk(created.status_id, { progress_percentage: 5 })
    const cursor = (await api.history(created.status_id, { limit: 1 })).body.next_cursor as string

    const res = await api.list(`cursor=${encodeURIComponent(cursor)}`)

    expectProblem(res, 400, 'invalid-cursor')
  })
})

describe('GET /api/stats', () => {
  test('when a tenant has statuses, then they are counted by status and by priority', async () => {
    const api = await freshTenantApi(t, 'stats')
    const specs: Partial<StatusCreate>[] = [
      { status: 'pending', priority: 'normal' },
      { status: 'pending', priority: 'normal' },
      { status: 'processing', priority: 'high' },
      { status: 'starting', priority: 'high' },
      { status: 'retry_pending', priority: 'normal' },
      { status: 'completed', priority: 'critical' },
      { status: 'failed', priority: 'low' },
      { status: 'cancelled', priority: 'low' },
    ]
    for (const spec of specs) await api.createOk(spec)

    const res = await api.stats()

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      total: 8,
      by_status: {
        pending: 2,
        starting: 1,
        processing: 1,
        retry_pending: 1,
        completed: 1,
        failed: 1,
        cancelled: 1,
      },
      by_priority: { low: 2, normal: 3, high: 2, critical: 1 },
    })
  })

  test('when a tenant has no statuses, then every count is zero', async () => {
    const api = await freshTenantApi(t, 'stats')

    const res = await api.stats()

    expect(res.body).toMatchObject({
      total: 0,
      by_status: {
        pending: 0,
        starting: 0,
        processing: 0,
        retry_pending: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
      },
      by_priority: { low: 0, normal: 0, high: 0, critical: 0 },
    })
  })

  test('when statuses change, are deleted or belong to another tenant, then the counts follow', async () => {
    const api = await freshTenantApi(t, 'stats')
    const other = await freshTenantApi(t, 'stats-other')
    const a = await api.createOk({ status: 'processing', priority: 'low' })
    const b = await api.createOk({ status: 'processing', priority: 'low' })
    await other.createOk({ status: 'processing', priority: 'low' })
    await api.updateOk(a.status_id, { new_status: 'completed', priority: 'high' })
    await api.remove(b.status_id)

    const res = await api.stats()

    expect(res.body).toMatchObject({
      total: 1,
      by_status: { processing: 0, completed: 1 },
      by_priority: { low: 0, high: 1 },
    })
  })
})
