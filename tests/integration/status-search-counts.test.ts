// The two structures the listing leans on at scale, checked against the rows themselves: the trigram
// index behind `q` (status_search) and the maintained counts behind `include_total` and stats
// (status_counts). Both are kept by triggers, so every write path has to leave them in step.
import BetterSqlite3 from 'better-sqlite3'
import { seedStatuses } from '../../scripts/lib/seed-rows'
import { freshTenantApi, statusApi, type StatusApi, type StatusJson } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import { testSqlite } from '../helpers/test-database'
import { freshTenantName } from '../helpers/tenants'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

/** Every id the listing returns for `query`, following next_cursor to the end. */
async function allIds(api: StatusApi, query: string): Promise<string[]> {
  const ids: string[] = []
  let cursor: string | undefined
  do {
    const res = await api.list(`${query}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 })
    ids.push(...(res.body.items as StatusJson[]).map((r) => r.status_id))
    cursor = res.body.next_cursor ?? undefined
  } while (cursor)
  return ids
}

const sorted = (ids: string[]) => [...ids].sort()

/** Reads the test's SQLite file directly, the way an operator would check it. */
function sql<T>(text: string, ...params: unknown[]): T[] {
  const db = new BetterSqlite3(t.file, { readonly: true })
  try {
    return db.prepare(text).all(...params) as T[]
  } finally {
    db.close()
  }
}

describe('q through the trigram index', () => {
  test('when a message changes, then the old text no longer finds the status and the new text does', async () => {
    const api = await freshTenantApi(t, 'search')
    const s = await api.createOk({ message: 'uploading chunks', resource_id: 'r:1' })
    expect(await allIds(api, 'q=chunks')).toEqual([s.status_id])

    await api.updateOk(s.status_id, { message: 'verifying checksum' })

    expect(await allIds(api, 'q=chunks')).toEqual([])
    expect(await allIds(api, 'q=checksum')).toEqual([s.status_id])
  })

  test('when a status is deleted, then q no longer finds it', async () => {
    const api = await freshTenantApi(t, 'search')
    const s = await api.createOk({ message: 'ephemeral export', resource_id: 'r:1' })
    expect(await allIds(api, 'q=ephemeral')).toEqual([s.status_id])

    expect((await api.remove(s.status_id)).status).toBe(204)

    expect(await allIds(api, 'q=ephemeral')).toEqual([])
  })

  test('when q holds quotes or full-text syntax, then it is matched as plain text', async () => {
    const api = await freshTenantApi(t, 'search')
    const s = await api.createOk({ message: 'said "hi" AND left*', resource_id: 'r:1' })
    await api.createOk({ message: 'said hi and left', resource_id: 'r:2' })

    expect(await allIds(api, `q=${encodeURIComponent('"hi" AND')}`)).toEqual([s.status_id])
    expect(await allIds(api, `q=${encodeURIComponent('left*')}`)).toEqual([s.status_id])
    expect(await allIds(api, `q=${encodeURIComponent('hi" OR "said')}`)).toEqual([])
  })

  test('when q is one or two characters, then it is matched by scanning, with the same rules', async () => {
    const api = await freshTenantApi(t, 'search')
    const s = await api.createOk({ message: 'step Q7 of 9', resource_id: 'r:1' })
    await api.createOk({ message: 'step 8 of 9', resource_id: 'r:2' })

    expect(await allIds(api, 'q=q7')).toEqual([s.status_id])
    expect(await allIds(api, 'q=Q7%20')).toEqual([s.status_id])
  })

  test('when q differs only in non-ASCII case, then neither path matches (case folds ASCII only)', async () => {
    const api = await freshTenantApi(t, 'search')
    const s = await api.createOk({ message: 'Résumé export', resource_id: 'r:1' })

    expect(await allIds(api, `q=${encodeURIComponent('résumé')}`)).toEqual([s.status_id])
    expect(await allIds(api, `q=${encodeURIComponent('RÉSUMÉ')}`)).toEqual([])
    expect(await allIds(api, `q=${encodeURIComponent('sUMÉ')}`)).toEqual([])
    expect(await allIds(api, `q=${encodeURIComponent('É')}`)).toEqual([])
  })

  // SQLite only: it fills the file with the seed script, which writes SQLite directly.
  testSqlite(
    'when q matches more statuses than the index hands over, then the listing is still complete',
    async () => {
      const tenant = freshTenantName('broad')
      const api = statusApi(t, await t.makeKey(tenant))
      seedStatuses({ file: t.file, count: 5_000, tenantId: tenant, seed: 7 })
      const expected = (needle: string) =>
        sql<{ status_id: string }>(
          `SELECT status_id FROM statuses WHERE tenant_id = ? AND (instr(lower(status_id), lower(?)) > 0
           OR instr(lower(coalesce(message, '')), lower(?)) > 0 OR instr(lower(coalesce(resource_id, '')), lower(?)) > 0)`,
          tenant,
          needle,
          needle,
          needle,
        ).map((r) => r.status_id)
      // Over 2,000 matches: listed by LIKE in sort order. Under: listed from the index's ids.
      const broad = expected('completed')
      const narrow = expected('st-000001')
      expect(broad.length).toBeGreaterThan(2_000)
      expect(narrow.length).toBeGreaterThan(0)
      expect(narrow.length).toBeLessThan(2_000)

      for (const [needle, ids] of [
        ['COMPLETED', broad],
        ['st-000001', narrow],
      ] as const) {
        const listed = await allIds(api, `q=${needle}&sort=-created_at`)
        expect(new Set(listed).size).toBe(listed.length)
        expect(sorted(listed)).toEqual(sorted(ids))
        const total = await api.list(`q=${needle}&include_total=true&limit=1`)
        expect(total.body.total).toBe(ids.length)
      }

      // A one-character needle holding a wildcard is matched by a scan into an id list, far past the
      // 999 values Prisma would otherwise bind.
      const db = new BetterSqlite3(t.file)
      db.prepare(`UPDATE statuses SET message = coalesce(message, '') || ' 5%' WHERE tenant_id = ?`).run(
        tenant,
      )
      db.close()
      const all = sql<{ status_id: string }>('SELECT status_id FROM statuses WHERE tenant_id = ?', tenant)
      expect(sorted(await allIds(api, `q=${encodeURIComponent('%')}&sort=progress_percentage`))).toEqual(
        sorted(all.map((r) => r.status_id)),
      )
    },
  )
})

describe('status_counts behind include_total and stats', () => {
  const counted = [
    '',
    'status=processing',
    'status=completed,cancelled',
    'priority=high,low',
    'kind=import',
    'status=processing&priority=high&kind=video',
  ]

  /** include_total and the stats for counted filters agree with listing every row. */
  async function expectCountsMatchRows(api: StatusApi) {
    for (const filter of counted) {
      const rows = await allIds(api, filter)
      const total = await api.list(`${filter}&include_total=true&limit=1`)
      expect({ filter, total: total.body.total }).toEqual({ filter, total: rows.length })
      const stats = await t.request.get(`/api/stats?${filter}`).set(bearer(api.key))
      expect({ filter, total: stats.body.total }).toEqual({ filter, total: rows.length })
    }
  }

  test('when statuses are created, moved, re-prioritised, batched and deleted, then totals match the rows', async () => {
    const api = await freshTenantApi(t, 'counts')
    const made: StatusJson[] = []
    for (const [kind, priority] of [
      ['video', 'high'],
      ['video', 'low'],
      ['import', 'high'],
      ['import', 'normal'],
      [undefined, 'critical'],
    ] as const) {
      made.push(await api.createOk({ ...(kind && { kind }), priority, status: 'pending' }))
    }
    await expectCountsMatchRows(api)

    await api.updateOk(made[0]!.status_id, { new_status: 'processing' })
    await api.updateOk(made[1]!.status_id, { new_status: 'processing', priority: 'high' })
    await api.updateOk(made[2]!.status_id, { progress_percentage: 40 })
    await expectCountsMatchRows(api)

    const batch = await t.request
      .post('/api/status/batch?wait=true')
      .set(bearer(api.key))
      .send({
        updates: [
          { status_id: made[0]!.status_id, new_status: 'completed' },
          { status_id: made[3]!.status_id, new_status: 'processing' },
          { status_id: made[4]!.status_id, new_status: 'cancelled' },
        ],
      })
    expect(batch.status).toBe(200)
    await expectCountsMatchRows(api)

    expect((await api.remove(made[1]!.status_id)).status).toBe(204)
    await expectCountsMatchRows(api)

    expect((await api.list('status=processing&include_total=true')).body.total).toBe(1)
  })

  test('when another tenant has statuses, then they are not in this tenant’s totals', async () => {
    const mine = await freshTenantApi(t, 'counts')
    const theirs = await freshTenantApi(t, 'counts')
    await mine.createOk({ kind: 'import', status: 'pending' })
    await theirs.createOk({ kind: 'import', status: 'pending' })
    await theirs.createOk({ kind: 'import', status: 'pending' })

    expect((await mine.list('kind=import&include_total=true')).body.total).toBe(1)
    expect((await mine.stats()).body.by_status.pending).toBe(1)
  })

  test('after every test above, the counts table equals a GROUP BY over the rows', async () => {
    const counts = await t.prisma.$queryRawUnsafe<{ key: string; n: number }[]>(
      `SELECT tenant_id || '/' || status || '/' || priority || '/' || kind AS key, CAST(n AS INTEGER) AS n
       FROM status_counts WHERE n <> 0 ORDER BY key`,
    )
    const rows = await t.prisma.$queryRawUnsafe<{ key: string; n: number }[]>(
      `SELECT tenant_id || '/' || status || '/' || priority || '/' || coalesce(kind, '') AS key,
       CAST(COUNT(*) AS INTEGER) AS n FROM statuses GROUP BY 1 ORDER BY key`,
    )
    expect(rows.length).toBeGreaterThan(0)
    expect(counts.map((c) => ({ ...c, n: Number(c.n) }))).toEqual(rows.map((r) => ({ ...r, n: Number(r.n) })))
  })
})
