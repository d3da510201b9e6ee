import fc from 'fast-check'
import type { CreateBody as StatusCreate } from '../helpers/factories'
import { statusApi, type StatusApi, type StatusJson } from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'
import { freshTenantName } from '../helpers/tenants'

// Creation times come from a clock the test sets, drawn from a few instants so sort keys tie often.
const T0 = Date.parse('2033-01-01T00:00:00.000Z')
let now = T0
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ clock: () => new Date(now) })
})
afterAll(() => t.close())

const STATUSES = ['pending', 'processing', 'retry_pending', 'completed', 'failed', 'cancelled'] as const
const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const
const KINDS = ['import', 'report'] as const
const TAGS = ['gpu', 'eu', 'gpu-x'] as const
const PROGRESS = [0, 25, 50, 50.5, 100] as const
const MESSAGES = [undefined, 'Alpha run', 'beta', 'ALPHABET'] as const
const TIMES = [0, 1, 2, 3] as const
const SORTS = ['created_at', 'updated_at', 'priority', 'progress_percentage', 'status_id'] as const

const rowArb = fc.record({
  status: fc.constantFrom(...STATUSES),
  priority: fc.constantFrom(...PRIORITIES),
  kind: fc.constantFrom(...KINDS),
  tags: fc.subarray([...TAGS]),
  progress: fc.constantFrom(...PROGRESS),
  message: fc.constantFrom(...MESSAGES),
  time: fc.constantFrom(...TIMES),
  resource: fc.integer({ min: 0, max: 4 }),
})
type Row = typeof rowArb extends fc.Arbitrary<infer R> ? R : never

const filterArb = fc.record(
  {
    status: fc.subarray([...STATUSES], { minLength: 1 }),
    priority: fc.subarray([...PRIORITIES], { minLength: 1 }),
    kind: fc.constantFrom(...KINDS),
    tag: fc.subarray([...TAGS], { minLength: 1 }),
    progress_gte: fc.constantFrom(0, 25, 50, 50.5),
    progress_lte: fc.constantFrom(25, 50, 100),
    created_after: fc.constantFrom(0, 1, 2),
    created_before: fc.constantFrom(2, 3, 4),
    q: fc.constantFrom('alpha', 'BET', 'x:3', '-1', 'run'),
  },
  { requiredKeys: [] },
)
type Filter = typeof filterArb extends fc.Arbitrary<infer F> ? F : never

const queryArb = fc.record({
  filter: filterArb,
  sort: fc.constantFrom(...SORTS),
  descending: fc.boolean(),
  limit: fc.integer({ min: 1, max: 7 }),
})
type Query = typeof queryArb extends fc.Arbitrary<infer Q> ? Q : never

const at = (tick: number) => T0 + tick * 1000
const iso = (tick: number) => new Date(at(tick)).toISOString()

async function freshTenant(): Promise<{ tenant: string; api: StatusApi }> {
  const tenant = freshTenantName('tenant-prop')
  return { tenant, api: statusApi(t, await t.makeKey(tenant)) }
}

async function seed(tenant: string, rows: Row[], prefix: string): Promise<void> {
  for (const [i, row] of rows.entries()) {
    now = at(row.time)
    const input: StatusCreate = {
      status_id: `${prefix}-${i}`,
      status: row.status,
      priority: row.priority,
      kind: row.kind,
      tags: row.tags,
      progress_percentage: row.progress,
      resource_id: `x:${row.resource}`,
      ...(row.message !== undefined && { message: row.message }),
    }
    await t.services.statuses.create(tenant, input)
  }
}

function toQueryString(q: Query): string {
  const f = q.filter
  const parts: string[] = [`sort=${q.descending ? '-' : ''}${q.sort}`]
  if (f.status) parts.push(`status=${f.status.join(',')}`)
  if (f.priority) parts.push(`priority=${f.priority.join(',')}`)
  if (f.kind) parts.push(`kind=${f.kind}`)
  if (f.tag) parts.push(`tag=${f.tag.join(',')}`)
  if (f.progress_gte !== undefined) parts.push(`progress_gte=${f.progress_gte}`)
  if (f.progress_lte !== undefined) parts.push(`progress_lte=${f.progress_lte}`)
  if (f.created_after !== undefined) parts.push(`created_after=${iso(f.created_after)}`)
  if (f.created_before !== undefined) parts.push(`created_before=${iso(f.created_before)}`)
  if (f.q !== undefined) parts.push(`q=${encodeURIComponent(f.q)}`)
  return parts.join('&')
}

/** Bounds the API rightly refuses (empty ranges) are dropped: this test is about valid queries. */
function valid(f: Filter): Filter {
  const out = { ...f }
  if (out.progress_gte !== undefined && out.progress_lte !== undefined && out.progress_gte > out.progress_lte)
    delete out.progress_lte
  if (
    out.created_after !== undefined &&
    out.created_before !== undefined &&
    out.created_after >= out.created_before
  )
    delete out.created_before
  return out
}

const lower = (s: string | null) => (s ?? '').toLowerCase()
const matches = (r: StatusJson, f: Filter) =>
  (!f.status || (f.status as string[]).includes(r.status)) &&
  (!f.priority || (f.priority as string[]).includes(r.priority)) &&
  (f.kind === undefined || r.kind === f.kind) &&
  (!f.tag || f.tag.some((tag) => r.tags.includes(tag))) &&
  (f.progress_gte === undefined || r.progress_percentage >= f.progress_gte) &&
  (f.progress_lte === undefined || r.progress_percentage <= f.progress_lte) &&
  (f.created_after === undefined || Date.parse(r.created_at) > at(f.created_after)) &&
  (f.created_before === undefined || Date.parse(r.created_at) < at(f.created_before)) &&
  (f.q === undefined ||
    [r.status_id, r.message, r.resource_id].some((s) => lower(s).includes(f.q!.toLowerCase())))

const compare = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0)
const sortValue = (r: StatusJson, key: Query['sort']): string | number =>
  key === 'priority'
    ? PRIORITIES.indexOf(r.priority as (typeof PRIORITIES)[number])
    : key === 'created_at' || key === 'updated_at'
      ? Date.parse(r[key])
      : r[key]

/** The reference: filter in memory, order by the key then status_id, both in the sort's direction. */
function expectedIds(records: StatusJson[], q: Query): string[] {
  return records
    .filter((r) => matches(r, q.filter))
    .sort((a, b) => {
      const c = compare(sortValue(a, q.sort), sortValue(b, q.sort)) || compare(a.status_id, b.status_id)
      return q.descending ? -c : c
    })
    .map((r) => r.status_id)
}

async function allRecords(api: StatusApi): Promise<StatusJson[]> {
  const res = await api.list('limit=500&sort=status_id')
  expect(res.status).toBe(200)
  expect(res.body.has_more).toBe(false)
  return res.body.items as StatusJson[]
}

/** Pages through `query` to the end; `between` runs after each page. */
async function walk(api: StatusApi, query: string, limit: number, between?: (page: number) => Promise<void>) {
  const ids: string[] = []
  let cursor: string | null = null
  let page = 0
  do {
    const res = await api.list(
      `${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    )
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 })
    expect(res.body.items.length).toBeLessThanOrEqual(limit)
    expect(res.body.has_more).toBe(res.body.next_cursor !== null)
    ids.push(...res.body.items.map((r: StatusJson) => r.status_id))
    cursor = res.body.next_cursor
    page += 1
    expect(page).toBeLessThan(200)
    if (cursor !== null && between) await between(page)
  } while (cursor !== null)
  return ids
}

describe('GET /api/status: paging agrees with an in-memory reference', () => {
  test('when paging through any filter, sort and limit, then the rows are exactly the reference rows in its order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { maxLength: 40 }), queryArb, async (rows, rawQuery) => {
        const query = { ...rawQuery, filter: valid(rawQuery.filter) }
        const { tenant, api } = await freshTenant()
        await seed(tenant, rows, 's')
        const records = await allRecords(api)
        expect(records).toHaveLength(rows.length)

        const ids = await walk(api, toQueryString(query), query.limit)

        expect(ids).toEqual(expectedIds(records, query))
        const total = await api.list(`${toQueryString(query)}&include_total=true&limit=1`)
        expect(total.body.total).toBe(ids.length)
      }),
      { numRuns: 35 },
    )
  })

  test('when statuses are inserted between pages, then no row that existed before the walk is skipped or repeated', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rowArb, { maxLength: 30 }),
        queryArb,
        fc.array(fc.array(rowArb, { maxLength: 3 }), { maxLength: 6 }),
        async (rows, rawQuery, inserts) => {
          const query = { ...rawQuery, filter: valid(rawQuery.filter) }
          const { tenant, api } = await freshTenant()
          await seed(tenant, rows, 's')
          const before = await allRecords(api)
          const expected = expectedIds(before, query)

          const ids = await walk(api, toQueryString(query), query.limit, async (page) => {
            const batch = inserts[page - 1]
            if (batch) await seed(tenant, batch, `n${page}`)
          })

          expect(new Set(ids).size).toBe(ids.length)
          const original = new Set(expected)
          expect(ids.filter((id) => original.has(id))).toEqual(expected)
          // Whatever new rows appeared must match the filter too.
          const after = new Map((await allRecords(api)).map((r) => [r.status_id, r]))
          for (const id of ids) expect(matches(after.get(id)!, query.filter)).toBe(true)
        },
      ),
      { numRuns: 30 },
    )
  })
})
