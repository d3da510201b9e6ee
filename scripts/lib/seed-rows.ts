// The seed row generator: realistic statuses, the same for the same seed and `now`, written straight into
// SQLite (better-sqlite3) or PostgreSQL in transactions of SEED_BATCH rows. Used by scripts/seed.ts, the
// bench's filters section and tests that need many statuses.
import BetterSqlite3 from 'better-sqlite3'
import { Client } from 'pg'
import { PG_TYPES } from '../../src/db/dialect'
import { migratePostgresDatabase, migrateSqliteDatabase } from '../../src/db/migrate'
import { STATUS_COLUMNS_TABLE } from '../../src/db/status-repository'

export const SEED_BATCH = 10_000
const DAY_MS = 86_400_000
const SPREAD_DAYS = 30

/** mulberry32: small, fast and good enough to make data from. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Weighted<T> = readonly (readonly [T, number])[]

function picker<T>(table: Weighted<T>): (r: number) => T {
  const total = table.reduce((sum, [, w]) => sum + w, 0)
  return (r) => {
    let x = r * total
    for (const [value, weight] of table) {
      x -= weight
      if (x < 0) return value
    }
    return table[table.length - 1]![0]
  }
}

export const SEED_STATUSES = [
  ['completed', 78],
  ['processing', 6],
  ['pending', 5],
  ['failed', 4],
  ['retry_pending', 3],
  ['cancelled', 3],
  ['starting', 1],
] as const satisfies Weighted<string>
type SeedStatus = (typeof SEED_STATUSES)[number][0]

export const SEED_PRIORITIES = [
  ['low', 15],
  ['normal', 65],
  ['high', 15],
  ['critical', 5],
] as const satisfies Weighted<string>
const RANK: Record<string, number> = { low: 0, normal: 1, high: 2, critical: 3 }

/** Kind, the resource it works on, and how common it is. */
export const SEED_KINDS = [
  ['video.transcode', 'video', 20],
  ['image.resize', 'image', 18],
  ['report.generate', 'report', 12],
  ['email.batch', 'campaign', 10],
  ['data.export', 'export', 10],
  ['data.import', 'import', 8],
  ['invoice.render', 'invoice', 8],
  ['backup.snapshot', 'volume', 6],
  ['index.rebuild', 'index', 5],
  ['model.train', 'model', 3],
] as const

export const SEED_TAGS = [
  'bench', 'eu-west', 'us-east', 'ap-south', 'customer:acme', 'customer:globex', 'customer:initech',
  'nightly', 'adhoc', 'api', 'ui', 'retryable', 'gpu', 'large', 'small', 'beta', 'internal', 'billing',
  'compliance', 'migration',
] // prettier-ignore

const ERRORS = [
  ['TIMEOUT', 'Worker timed out after 300s'],
  ['OOM', 'Worker ran out of memory'],
  ['UPSTREAM_5XX', 'Upstream service answered 503'],
  ['INVALID_INPUT', 'Input file is corrupt or unsupported'],
  ['QUOTA', 'Storage quota exceeded'],
] as const

const LIVE = new Set<SeedStatus>(['pending', 'starting', 'processing', 'retry_pending'])

/** Prisma's SQLite text form of a DateTime. */
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00')

export const seedStatusId = (n: number) => `st-${String(n).padStart(9, '0')}`

export interface SeedOptions {
  /** Absolute path of the SQLite file; created and migrated when needed. */
  file: string
  count: number
  tenantId?: string
  seed?: number
  /** End of the 30 days the rows are spread over (ms since the epoch). */
  now?: number
  /** Called after every transaction with the rows inserted so far. */
  onProgress?: (inserted: number, count: number) => void
}

export interface SeedResult {
  inserted: number
  firstId: string
  lastId: string
  ms: number
  rowsPerSec: number
}

/** The statuses table's columns, in the order seedRows gives values: the repository's own table. */
export const SEED_COLUMNS = STATUS_COLUMNS_TABLE.map(([column]) => column)
type SeedField = (typeof STATUS_COLUMNS_TABLE)[number][1]

/**
 * The generator behind seedStatuses: row `i` (0-based) of `count`, as values in SEED_COLUMNS order, with ids
 * from `first`. The same options give the same rows, whichever store they go to.
 */
export function seedRows(options: {
  count: number
  tenantId: string
  seed: number
  now: number
  first: number
}): (i: number) => unknown[] {
  const { count, tenantId, seed, now, first } = options
  const random = prng(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1))
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!
  const status = picker(SEED_STATUSES)
  const priority = picker(SEED_PRIORITIES)
  const kind = picker(SEED_KINDS.map(([k, r, w]) => [[k, r] as const, w] as const))
  const spanMs = SPREAD_DAYS * DAY_MS
  const start = now - spanMs

  const row = (i: number): unknown[] => {
    const n = first + i
    // Ids follow creation order, as they would in a live system; a little jitter keeps times distinct.
    const createdAt = start + Math.floor(((i + random()) / Math.max(count, 1)) * spanMs)
    const [k, resource] = kind(random())
    const s = status(random())
    const p = priority(random())
    const resourceId = `${resource}:${String(int(0, 9_999_999)).padStart(7, '0')}`
    const age = now - createdAt
    // Time until the last change: seconds to an hour for finished work, up to the present for live work.
    const lastChange = Math.min(
      age,
      LIVE.has(s) ? Math.floor(random() * Math.min(age, 6 * 3_600_000)) : int(2_000, 3_600_000),
    )
    const updatedAt = createdAt + Math.max(1, lastChange)
    const startedAt =
      s === 'pending' || (s === 'cancelled' && random() < 0.5)
        ? null
        : createdAt + Math.min(lastChange, int(50, 30_000))
    const terminal = s === 'completed' || s === 'failed' || s === 'cancelled'
    const stepsTotal = random() < 0.5 ? null : int(5, 500)
    let progress: number
    let message: string
    let errorInfo: string | null = null
    let retryCount = 0
    switch (s) {
      case 'completed':
        progress = 100
        message = `Completed in ${((updatedAt - createdAt) / 1000).toFixed(1)}s`
        break
      case 'pending':
      case 'starting':
        progress = 0
        message = s === 'pending' ? 'Queued' : 'Worker starting'
        break
      case 'processing':
        progress = int(1, 99)
        message = stepsTotal
          ? `Step ${Math.floor((progress / 100) * stepsTotal)} of ${stepsTotal}`
          : `Processing ${resourceId}`
        break
      default: {
        progress = startedAt === null ? 0 : s === 'cancelled' ? int(0, 90) : int(0, 95)
        const [code, text] = pick(ERRORS)
        if (s === 'cancelled') message = 'Cancelled by user'
        else {
          message = text
          errorInfo = JSON.stringify({ message: text, code })
          retryCount = s === 'failed' ? 3 : int(1, 2)
        }
      }
    }
    const tagCount = int(0, 3)
    const tags: string[] = []
    while (tags.length < tagCount) {
      const tag = pick(SEED_TAGS)
      if (!tags.includes(tag)) tags.push(tag)
    }
    const values: Record<SeedField, unknown> = {
      tenantId,
      statusId: seedStatusId(n),
      kind: k,
      resourceId,
      status: s,
      priority: p,
      priorityRank: RANK[p],
      progress,
      message,
      stepsCompleted: stepsTotal === null ? null : Math.floor((progress / 100) * stepsTotal),
      stepsTotal,
      errorInfo,
      retryCount,
      maxRetries: 3,
      metadata: JSON.stringify({
        region: pick(['eu-west-1', 'us-east-1', 'ap-south-1']),
        attempt: retryCount + 1,
      }),
      tags: JSON.stringify(tags),
      version: terminal ? int(3, 10) : s === 'pending' ? 1 : int(2, 8),
      createdAt: iso(createdAt),
      updatedAt: iso(updatedAt),
      startedAt: startedAt === null ? null : iso(startedAt),
      completedAt: terminal ? iso(updatedAt) : null,
      estimatedCompletionAt: s === 'processing' ? iso(updatedAt + int(60_000, 3_600_000)) : null,
      lastReportedAt: s === 'processing' || terminal ? iso(updatedAt) : null,
      // No liveness by default: seeded work never becomes due.
      heartbeatTimeoutS: null,
      startBy: null,
      deadlineAt: null,
      lastHeartbeatAt: null,
      stallsAt: null,
      overdueAt: null,
      dueAt: null,
      logLines: null,
      parentId: null,
      weight: null,
      onChildFailure: null,
      completeWithChildren: null,
      depth: null,
      children: null,
    }
    return STATUS_COLUMNS_TABLE.map(([, field]) => values[field])
  }
  return row
}

export function seedStatuses(options: SeedOptions): SeedResult {
  const { file, count, tenantId = 'default', seed = 1, now = Date.now(), onProgress } = options
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a whole number ≥ 0, got ${count}`)
  migrateSqliteDatabase(file)
  const db = new BetterSqlite3(file, { timeout: 10_000 })
  const started = performance.now()
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.prepare('INSERT INTO tenants (id, last_seq, created_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING').run(
      tenantId,
      iso(now),
    )
    const highest = db
      .prepare<[string], { id: string | null }>(
        "SELECT max(status_id) AS id FROM statuses WHERE tenant_id = ? AND status_id GLOB 'st-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'",
      )
      .get(tenantId)
    const first = (highest?.id ? Number(highest.id.slice(3)) : 0) + 1

    const insert = db.prepare(
      `INSERT INTO statuses (${SEED_COLUMNS.join(', ')}) VALUES (${SEED_COLUMNS.map(() => '?').join(', ')})`,
    )
    const row = seedRows({ count, tenantId, seed, now, first })

    const batch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) insert.run(row(i))
    })
    for (let from = 0; from < count; from += SEED_BATCH) {
      const to = Math.min(count, from + SEED_BATCH)
      batch(from, to)
      onProgress?.(to, count)
    }
    const ms = performance.now() - started
    return {
      inserted: count,
      firstId: seedStatusId(first),
      lastId: seedStatusId(first + count - 1),
      ms,
      rowsPerSec: count / (ms / 1000),
    }
  } finally {
    db.close()
  }
}

/** PostgreSQL column types of SEED_COLUMNS, for the arrays a batch travels in. */
const PG_SEED_TYPES = STATUS_COLUMNS_TABLE.map(([, , json]) => PG_TYPES[json])

/**
 * seedStatuses for a PostgreSQL database (`url`, migrated first): the same rows from seedRows, sent as
 * one array per column, `INSERT … SELECT * FROM unnest(…)`, SEED_BATCH rows a statement. A bulk load in
 * one transaction: the secondary indexes of `statuses` are dropped and built again afterwards, and the
 * per-row count trigger is off while `status_counts` gets the new rows' counts in one statement (both
 * five times faster than row by row); other sessions wait for the commit. Then ANALYZE, as autovacuum
 * would do shortly after a load this size.
 */
export async function seedPostgresStatuses(
  options: Omit<SeedOptions, 'file'> & { url: string },
): Promise<SeedResult> {
  const { url, count, tenantId = 'default', seed = 1, now = Date.now(), onProgress } = options
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a whole number ≥ 0, got ${count}`)
  await migratePostgresDatabase(url)
  // The times are UTC wall-clock `timestamp(3)`, as the service writes them.
  const db = new Client({ connectionString: url, options: '-c TimeZone=UTC' })
  await db.connect()
  const started = performance.now()
  try {
    await db.query(
      'INSERT INTO tenants (id, last_seq, created_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING',
      [tenantId, new Date(now)],
    )
    const highest = await db.query<{ id: string | null }>(
      "SELECT max(status_id) AS id FROM statuses WHERE tenant_id = $1 AND status_id ~ '^st-[0-9]{9}$'",
      [tenantId],
    )
    const top = highest.rows[0]?.id
    const first = (top ? Number(top.slice(3)) : 0) + 1
    const row = seedRows({ count, tenantId, seed, now, first })
    await db.query('BEGIN')
    const indexes = await db.query<{ name: string; def: string }>(
      `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
       WHERE i.schemaname = current_schema() AND i.tablename = 'statuses'
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    )
    for (const { name } of indexes.rows) await db.query(`DROP INDEX "${name}"`)
    await db.query('ALTER TABLE statuses DISABLE TRIGGER statuses_count_insert')
    const insert = {
      name: 'seed-statuses',
      text:
        `INSERT INTO statuses (${SEED_COLUMNS.join(', ')}) SELECT * FROM unnest(` +
        `${PG_SEED_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})`,
    }
    for (let from = 0; from < count; from += SEED_BATCH) {
      const to = Math.min(count, from + SEED_BATCH)
      const columns: unknown[][] = SEED_COLUMNS.map(() => [])
      for (let i = from; i < to; i++) row(i).forEach((value, c) => columns[c]!.push(value))
      await db.query({ ...insert, values: columns })
      onProgress?.(to, count)
    }
    await db.query('ALTER TABLE statuses ENABLE TRIGGER statuses_count_insert')
    await db.query(
      `INSERT INTO status_counts (tenant_id, status, priority, kind, n)
       SELECT tenant_id, status, priority, coalesce(kind, ''), count(*) FROM statuses
       WHERE tenant_id = $1 AND status_id BETWEEN $2 AND $3 GROUP BY 1, 2, 3, 4
       ON CONFLICT (tenant_id, status, priority, kind) DO UPDATE SET n = status_counts.n + excluded.n`,
      [tenantId, seedStatusId(first), seedStatusId(first + count - 1)],
    )
    for (const { def } of indexes.rows) await db.query(def)
    await db.query('COMMIT')
    await db.query('ANALYZE statuses')
    const ms = performance.now() - started
    return {
      inserted: count,
      firstId: seedStatusId(first),
      lastId: seedStatusId(first + count - 1),
      ms,
      rowsPerSec: count / (ms / 1000),
    }
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    await db.end()
  }
}
