// Filters at scale: a fresh database seeded with `--filter-rows` statuses (scripts/lib/seed-rows.ts: better-sqlite3
// on SQLite, a bulk load of the same rows on PostgreSQL), the built server started on it, and GET
// /api/status with realistic complex filters timed one request at a time. Each filter's plan is the
// store's EXPLAIN of the SQL the service sends for it (same WHERE, ORDER BY and LIMIT shape, written out
// here per store), run on the same database with the same values.
import BetterSqlite3 from 'better-sqlite3'
import { Client } from 'pg'
import { SEED_TAGS, seedPostgresStatuses, seedStatuses, seedStatusId } from '../../lib/seed-rows'
import { cpuWindow, percentile } from '../lib/cpu'
import { authHeaders } from '../lib/fixtures'
import type { ChildServer } from '../lib/processes'
import { startSeededService } from '../lib/seeded-service'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'

const TENANT = 'default'
const WARMUP = 20
const SAMPLES = 200
/** A slow filter stops early, after at least MIN_SAMPLES, so the section ends in reasonable time. */
const MAX_MEASURE_MS = 30_000
const MIN_SAMPLES = 20
const DEEP_PAGES = 20
const TARGET_P95_MS = 20
const DAY_MS = 86_400_000

const COLUMNS = [
  'tenant_id', 'status_id', 'kind', 'resource_id', 'status', 'priority', 'priority_rank', 'progress',
  'message', 'steps_completed', 'steps_total', 'error_info', 'retry_count', 'max_retries', 'metadata',
  'tags', 'version', 'created_at', 'updated_at', 'started_at', 'completed_at', 'estimated_completion_at',
  'last_reported_at',
].join(', ') // prettier-ignore

const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00')
const inList = (column: string, n: number) => `${column} IN (${Array(n).fill('?').join(',')})`

/**
 * What differs between the stores' SQL for the same filter (src/db/dialect.ts): Prisma's `contains`
 * (LIKE on SQLite, ILIKE on PostgreSQL, whose COLLATE "C" columns fold ASCII only) and the trigram
 * search (FTS5 table on SQLite, a GIN index over one expression on PostgreSQL). Placeholders are `?`
 * in both; PostgreSQL's are numbered when the plan is asked for.
 */
interface SqlShapes {
  /** `column` contains the parameter: its SQL, and the parameter for `value`. */
  like(column: string, value: string): [string, string]
  searchIndex(needle: string): Sql
}

const sqliteShapes: SqlShapes = {
  like: (column, value) => [`${column} LIKE ('%' || ? || '%')`, value],
  searchIndex: (needle) => ({
    sql:
      'SELECT s.status_id FROM status_search f CROSS JOIN statuses s ON s.rowid = f.rowid WHERE status_search MATCH ? ' +
      "AND s.tenant_id = ? AND (instr(lower(coalesce(s.status_id, '')), lower(?)) > 0 OR instr(lower(coalesce(s.message, '')), lower(?)) > 0 " +
      "OR instr(lower(coalesce(s.resource_id, '')), lower(?)) > 0) LIMIT ?",
    params: [`"${needle}"`, TENANT, needle, needle, needle, 2001],
  }),
}

const pgFolded = (column: string) =>
  `strpos(lower(coalesce(s.${column}, '') COLLATE "C"), lower(?::text COLLATE "C")) > 0`

const postgresShapes: SqlShapes = {
  like: (column, value) => [`${column} ILIKE ?`, `%${value}%`],
  searchIndex: (needle) => ({
    sql:
      'SELECT s.status_id FROM statuses s WHERE s.tenant_id = ? AND ' +
      "(coalesce(s.status_id, '') || E'\\n' || coalesce(s.message, '') || E'\\n' || coalesce(s.resource_id, '')) ILIKE ? " +
      `AND (${pgFolded('status_id')} OR ${pgFolded('message')} OR ${pgFolded('resource_id')}) LIMIT ?`,
    params: [TENANT, `%${needle}%`, needle, needle, needle, 2001],
  }),
}

interface Sql {
  sql: string
  params: unknown[]
}

/** Prisma's findMany: WHERE (…) ORDER BY key, status_id LIMIT limit+1 OFFSET 0. */
const findMany = (where: string[], params: unknown[], orderBy: string, limit: number): Sql => ({
  sql: `SELECT ${COLUMNS} FROM statuses WHERE (${where.join(' AND ')}) ORDER BY ${orderBy} LIMIT ? OFFSET ?`,
  params: [...params, limit + 1, 0],
})

// The trigram-index lookup a `q` of 3+ characters starts with (StatusFilterService) is
// SqlShapes.searchIndex: up to 2,001 ids, then the listing filters by those ids; more than 2,000 means
// a broad needle, listed by LIKE instead.

/** A needle most statuses hold (every seeded message about a finished job). */
const BROAD_Q = 'Completed'

interface FilterQuery {
  id: string
  /** The query string of GET /api/status. */
  query: string
  /** Follow next_cursor this many pages first and time the last one. */
  pages?: number
  /** The SQL for the plan; `position` is the (value, id) of the cursor for paged queries. */
  sql(position?: [string, string]): Sql[]
}

export interface FilterResult {
  id: string
  query: string
  samples: number
  ms: { p50: number | null; p95: number | null; p99: number | null; max: number | null }
  /** From the last response. */
  items: number
  hasMore: boolean
  total?: number
  non2xx: number
  plans: { sql: string; params: unknown[]; plan: string[] }[]
  planSummary: string
  met: boolean | null
}

function filterQueries(shapes: SqlShapes, now: number, q: string, tag: string, kind: string): FilterQuery[] {
  const after = iso(now - 15 * DAY_MS)
  const { searchIndex } = shapes
  const broad = ['status_id', 'message', 'resource_id'].map((c) => shapes.like(c, BROAD_Q))
  const [tagSql, tagParam] = shapes.like('tags', JSON.stringify(tag))
  return [
    {
      id: 'a',
      query: `status=processing,retry_pending&priority=high,critical&updated_after=${encodeURIComponent(after)}&sort=-updated_at&limit=50`,
      sql: () => [
        findMany(
          ['tenant_id = ?', inList('status', 2), inList('priority', 2), 'updated_at > ?'],
          [TENANT, 'processing', 'retry_pending', 'high', 'critical', after],
          'updated_at DESC, status_id DESC',
          50,
        ),
      ],
    },
    {
      id: 'b',
      query: `q=${encodeURIComponent(q)}&limit=50`,
      sql: () => [
        searchIndex(q),
        findMany(
          ['tenant_id = ?', 'status_id IN (?)'],
          [TENANT, seedStatusId(1)],
          'updated_at DESC, status_id DESC',
          50,
        ),
      ],
    },
    {
      id: 'g',
      query: `q=${encodeURIComponent(BROAD_Q)}&limit=50`,
      sql: () => [
        searchIndex(BROAD_Q),
        findMany(
          ['tenant_id = ?', `(${broad.map(([sql]) => sql).join(' OR ')})`],
          [TENANT, ...broad.map(([, param]) => param)],
          'updated_at DESC, status_id DESC',
          50,
        ),
      ],
    },
    {
      id: 'c',
      query: `tag=${encodeURIComponent(tag)}&sort=-created_at&limit=50`,
      sql: () => [
        findMany(['tenant_id = ?', tagSql], [TENANT, tagParam], 'created_at DESC, status_id DESC', 50),
      ],
    },
    {
      id: 'd',
      query: 'status=completed&sort=-updated_at&limit=100',
      pages: DEEP_PAGES,
      sql: (position) => [
        findMany(
          ['tenant_id = ?', 'status IN (?)', '(updated_at < ? OR (updated_at = ? AND status_id < ?))'],
          [TENANT, 'completed', position?.[0] ?? iso(now), position?.[0] ?? iso(now), position?.[1] ?? ''],
          'updated_at DESC, status_id DESC',
          100,
        ),
      ],
    },
    {
      id: 'e',
      query: 'include_total=true&status=completed&priority=normal',
      sql: () => {
        const where = ['tenant_id = ?', 'status IN (?)', 'priority IN (?)']
        const params = [TENANT, 'completed', 'normal']
        return [
          findMany(where, params, 'updated_at DESC, status_id DESC', 50),
          {
            sql: 'SELECT SUM(n) FROM status_counts WHERE tenant_id = ? AND status IN (?) AND priority IN (?)',
            params,
          },
        ]
      },
    },
    {
      id: 'f',
      query: `kind=${encodeURIComponent(kind)}&progress_gte=10&progress_lte=90&sort=progress_percentage`,
      sql: () => [
        findMany(
          ['tenant_id = ?', 'kind = ?', 'progress >= ?', 'progress <= ?'],
          [TENANT, kind, 10, 90],
          'progress ASC, status_id ASC',
          50,
        ),
      ],
    },
  ]
}

/** Read access to the seeded database: a value to search for, and plans. */
interface PlanReader {
  resourceId(statusId: string): Promise<string | undefined>
  /** The plan as indented lines, children under their parent. */
  explain(query: Sql): Promise<string[]>
  close(): Promise<void>
}

function sqliteReader(file: string): PlanReader {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true })
  return {
    resourceId: async (statusId) =>
      db
        .prepare<[string, string], { resource_id: string }>(
          'SELECT resource_id FROM statuses WHERE tenant_id = ? AND status_id = ?',
        )
        .get(TENANT, statusId)?.resource_id,
    async explain({ sql, params }) {
      const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as {
        id: number
        parent: number
        detail: string
      }[]
      const depth = new Map<number, number>([[0, -1]])
      return rows.map((row) => {
        const d = (depth.get(row.parent) ?? -1) + 1
        depth.set(row.id, d)
        return `${'  '.repeat(d)}${row.detail}`
      })
    },
    close: async () => {
      db.close()
    },
  }
}

async function postgresReader(url: string): Promise<PlanReader> {
  const db = new Client({ connectionString: url, options: '-c TimeZone=UTC' })
  await db.connect()
  return {
    resourceId: async (statusId) =>
      (
        await db.query<{ resource_id: string }>(
          'SELECT resource_id FROM statuses WHERE tenant_id = $1 AND status_id = $2',
          [TENANT, statusId],
        )
      ).rows[0]?.resource_id,
    async explain({ sql, params }) {
      let n = 0
      const numbered = sql.replace(/\?/g, () => `$${++n}`)
      const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${numbered}`, params)
      // Newlines inside an expression (the search index's separator) would break the report's table.
      return rows.map((row) => row['QUERY PLAN'].replace(/\n/g, '\\n'))
    },
    close: () => db.end(),
  }
}

export async function runFilters(ctx: BenchContext): Promise<SectionResult> {
  const rows = ctx.options.filterRows
  const postgres = ctx.database.kind === 'postgres'
  const databaseUrl = await ctx.database.create('filters')
  const now = Date.now()
  process.stdout.write(`seeding ${thousands(rows)} statuses … `)
  const seedOptions = { count: rows, tenantId: TENANT, seed: 1, now }
  const seeded = postgres
    ? await seedPostgresStatuses({ ...seedOptions, url: databaseUrl })
    : seedStatuses({ ...seedOptions, file: databaseUrl.replace(/^file:/, '') })
  process.stdout.write(`${(seeded.ms / 1000).toFixed(1)} s (${thousands(seeded.rowsPerSec)} rows/s) … `)

  // Values that exist in the data: a tag, a kind, and part of one status's resource id.
  const reader = postgres
    ? await postgresReader(databaseUrl)
    : sqliteReader(databaseUrl.replace(/^file:/, ''))
  let server: ChildServer | undefined
  try {
    const probe = await reader.resourceId(seedStatusId(Math.max(1, Math.floor(rows / 2))))
    const q = probe?.slice(-6) ?? '123456'
    const tag = SEED_TAGS[4]!
    const kind = 'video.transcode'
    const queries = filterQueries(postgres ? postgresShapes : sqliteShapes, now, q, tag, kind)

    const started = await startSeededService(ctx, 'filters-service', databaseUrl)
    server = started.server
    const { url } = server
    const apiKey = started.apiKey
    const headers = authHeaders(apiKey)

    type Page = {
      items: { status_id: string; updated_at: string }[]
      next_cursor: string | null
      has_more: boolean
      total?: number
    }
    const get = async (query: string): Promise<{ status: number; body: Page | null; ms: number }> => {
      const started = performance.now()
      const res = await fetch(`${url}/api/status?${query}`, { headers })
      const text = await res.text()
      const ms = performance.now() - started
      return { status: res.status, body: res.ok ? (JSON.parse(text) as Page) : null, ms }
    }

    const results: FilterResult[] = []
    const cpu = cpuWindow({ server: server.cpuMs, database: ctx.database.cpuMs })
    for (const f of queries) {
      let query = f.query
      let position: [string, string] | undefined
      for (let page = 1; page < (f.pages ?? 1); page++) {
        const { status, body } = await get(query)
        const last = body?.items.at(-1)
        if (status !== 200 || !body?.next_cursor || !last)
          throw new Error(`filter (${f.id}) page ${page}: HTTP ${status}, no next page`)
        query = `${f.query}&cursor=${encodeURIComponent(body.next_cursor)}`
        position = [iso(Date.parse(last.updated_at)), last.status_id]
      }
      const samples: number[] = []
      let non2xx = 0
      let lastBody: Page | null = null
      const deadline = performance.now() + MAX_MEASURE_MS
      for (let i = 0; i < WARMUP + SAMPLES; i++) {
        const { status, body, ms } = await get(query)
        if (status !== 200) non2xx++
        lastBody = body ?? lastBody
        if (i >= WARMUP) samples.push(ms)
        if (samples.length >= MIN_SAMPLES && performance.now() > deadline) break
      }
      const plans = []
      for (const s of f.sql(position)) plans.push({ ...s, plan: await reader.explain(s) })
      const p95 = percentile(samples, 95)
      results.push({
        id: f.id,
        query: f.pages ? `${f.query} (page ${f.pages})` : f.query,
        samples: samples.length,
        ms: {
          p50: percentile(samples, 50),
          p95,
          p99: percentile(samples, 99),
          max: percentile(samples, 100),
        },
        items: lastBody?.items.length ?? 0,
        hasMore: lastBody?.has_more ?? false,
        ...(lastBody?.total !== undefined && { total: lastBody.total }),
        non2xx,
        plans,
        planSummary: plans
          .map((p) =>
            p.plan
              // PostgreSQL's plan nodes without their costs and conditions (the notes have the whole plan).
              .map((line) => line.replace(/\s*\(cost=[^)]*\)/, '').replace(/^\s*(->\s+)?/, ''))
              .filter((line) => !/^[A-Z][A-Za-z ]*: /.test(line))
              .join('; '),
          )
          .join(' ‖ '),
        met: p95 === null || non2xx > 0 ? null : p95 <= TARGET_P95_MS,
      })
      process.stdout.write(`(${f.id}) p95 ${round(p95 ?? NaN, 1)} ms … `)
    }
    const cpuUse = cpu()

    const ms = (v: number | null) => (v === null ? '–' : String(round(v, 1)))
    const cell = (s: string) => s.replace(/\|/g, '\\|')
    const decoded = (s: string) => decodeURIComponent(s)
    return {
      name: 'filters',
      title: `Filters at scale: GET /api/status over ${thousands(rows)} statuses`,
      summary: results.map((r) => `(${r.id}) p95 ${ms(r.ms.p95)} ms`).join(', '),
      table: {
        columns: [
          'query',
          'p50 ms',
          'p95 ms',
          'p99 ms',
          'samples',
          'plan summary',
          `p95 ≤ ${TARGET_P95_MS} ms`,
        ],
        rows: results.map((r) => [
          cell(`(${r.id}) \`${decoded(r.query)}\``),
          ms(r.ms.p50),
          ms(r.ms.p95),
          ms(r.ms.p99),
          String(r.samples),
          cell(r.planSummary),
          r.met === null ? 'not measured' : r.met ? 'met' : 'missed',
        ]),
      },
      notes: [
        `One request at a time, ${SAMPLES} per filter after ${WARMUP} warm-up (fewer when a filter takes over ` +
          `${MAX_MEASURE_MS / 1000} s), from the bench process to the built server on a fresh ` +
          `${postgres ? 'database' : 'file'} seeded by scripts/lib/seed-rows.ts's rows (seed 1, ` +
          `${postgres ? 'seedPostgresStatuses: a bulk load, indexes built after, then ANALYZE; ' : ''}` +
          `${(seeded.ms / 1000).toFixed(1)} s at ${thousands(seeded.rowsPerSec)} rows/s). ` +
          `(d) follows next_cursor to page ${DEEP_PAGES} and times that page. Server CPU ${Math.round(cpuUse.server ?? 0)} %, ` +
          `${postgres ? `PostgreSQL ${Math.round(cpuUse.database ?? 0)} %, ` : ''}other programs ${Math.round(cpuUse.other ?? 0)} %.`,
        postgres
          ? 'Plans: EXPLAIN (estimates, not run) of the SQL the service sends (its WHERE/ORDER BY/LIMIT shape written ' +
            'out for PostgreSQL, with the same values), on the same database, with the statistics of the ANALYZE after seeding:'
          : 'Plans: EXPLAIN QUERY PLAN of the SQL Prisma sends (its WHERE/ORDER BY/LIMIT shape written out, with the ' +
            'same values), on the same file, no ANALYZE statistics (as the service leaves it):',
        ...results.map(
          (r) =>
            `(${r.id}) ${r.items} items${r.total !== undefined ? `, total ${thousands(r.total)}` : ''}` +
            `${r.hasMore ? ', has_more' : ''}${r.non2xx ? `, ${r.non2xx} non-2xx` : ''}\n\n` +
            r.plans
              .map(
                (p) => '```\n' + `${p.sql}\n-- ${JSON.stringify(p.params)}\n${p.plan.join('\n')}\n` + '```',
              )
              .join('\n\n'),
        ),
      ],
      targets: results.map((r) =>
        target(
          `filter (${r.id}) p95 ≤ ${TARGET_P95_MS} ms at ${thousands(rows)} rows`,
          r.non2xx ? null : r.ms.p95,
          (v) => v <= TARGET_P95_MS,
        ),
      ),
      otherCpuPercent: cpuUse.other,
      data: { rows, seed: seeded, q, tag, kind, now: iso(now), results },
    }
  } finally {
    await reader.close()
    await server?.stop()
  }
}
