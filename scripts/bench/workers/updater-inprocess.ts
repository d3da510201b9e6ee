// Batch ingest without HTTP, run as a worker of scripts/bench.ts (its own process and core):
//   updater  the batched updater of src/ (createServices over a fresh database), fed `updates` progress
//            updates in submits of `chunk` items over `statuses` statuses, all results awaited;
//   raw      the ceiling on the same database and rows, in transactions of the updater's batch size, one
//            status UPDATE and one event INSERT per update: better-sqlite3 prepared statements on SQLite;
//            on PostgreSQL `pg` with one set-based UPDATE … FROM unnest(…) feeding the INSERT of the events.
//            Event ids are UUIDv7, as the service makes them.
import { copyFileSync, rmSync } from 'node:fs'
import BetterSqlite3 from 'better-sqlite3'
import { Client } from 'pg'
import { v7 as uuidv7 } from 'uuid'
import { openDatabase } from '../../../src/db/prisma'
import { createServices, type Services } from '../../../src/services'
import type { BatchItem, ItemResult } from '../../../src/services/status-updater'
import { serve } from '../lib/ipc'
import { storeAccess } from '../lib/store'

const TENANT = 'default'

export interface InProcessRequest {
  /** A fresh database: `file:…` or `postgresql://…`. */
  url: string
  statuses: number
  updates: number
  /** Items per submit, like one POST /api/status/batch. */
  chunk: number
  /**
   * Items submitted but not yet committed, at most. Kept at the number of statuses so no status has two
   * updates queued at once: the updater would merge them, and the count would include writes it skipped.
   */
  window: number
  batchSize: number
  flushMs: number
  maxQueue: number
}

/** The raw ceiling once per variant of the schema, each on a copy of one seeded database (SQLite). */
export interface SchemaCostRequest {
  url: string
  statuses: number
  updates: number
  batchSize: number
  variants: SchemaVariant[]
}

export interface SchemaVariant {
  name: string
  /** Run on the copy before it is measured: DROP or CREATE of an index or trigger. */
  sql: string[]
  /** Events written with `{}` as their changes and record, instead of the sample's. */
  emptyPayload?: boolean
}

export interface RunResult {
  updates: number
  seconds: number
  perSec: number
  /** Events committed (status rows changed) during the run. */
  events: number
  /** CPU of this process during the run, % of one core. */
  cpuPercent: number
}

export interface InProcessResult {
  updater: RunResult & { results: Record<string, number>; flushes: number; meanFlushMs: number }
  raw: RunResult & { batchSize: number; recordBytes: number; driver: string }
}

function timed<T>(fn: () => Promise<T>) {
  return async () => {
    const cpu = process.cpuUsage()
    const started = performance.now()
    const value = await fn()
    const ms = performance.now() - started
    const used = process.cpuUsage(cpu)
    return { value, seconds: ms / 1000, cpuPercent: ((used.user + used.system) / 1000 / ms) * 100 }
  }
}

async function runUpdater(req: InProcessRequest) {
  const db = await openDatabase({ url: req.url })
  const store = storeAccess(req.url)
  const services = await createServices({
    db,
    updater: { batchSize: req.batchSize, flushMs: req.flushMs, maxQueue: req.maxQueue },
  })
  try {
    const ids = await makeFixtures(services, req.url, req.statuses)
    const head = await store.openFeedHead(TENANT)

    let counter = 0
    const results: Record<string, number> = {}
    // Every pass over the ids moves each status's progress by one, so every update is a real change.
    const submitAll = async (total: number) => {
      const inFlight: Promise<ItemResult[]>[] = []
      const settle = async (batch: Promise<ItemResult[]>) => {
        for (const r of await batch) results[r.result] = (results[r.result] ?? 0) + 1
      }
      for (let sent = 0; sent < total; sent += req.chunk) {
        const items: BatchItem[] = []
        for (let i = 0; i < Math.min(req.chunk, total - sent); i++, counter++) {
          const pass = Math.floor(counter / ids.length)
          items.push({ status_id: ids[counter % ids.length]!, progress_percentage: (pass % 99) + 1 })
        }
        const submitted = await services.updater.submit(TENANT, items)
        if (submitted.rejected.length > 0)
          throw new Error(`updater rejected ${JSON.stringify(submitted.rejected[0])}`)
        inFlight.push(Promise.all(submitted.accepted.map((a) => a.result)))
        if (inFlight.length * req.chunk >= req.window) await settle(inFlight.shift()!)
      }
      for (const batch of inFlight) await settle(batch)
    }

    await submitAll(ids.length) // warm-up: one pass, not counted
    for (const key of Object.keys(results)) delete results[key]
    const statsBefore = services.updater.stats()
    const seqBefore = await head.lastSeq()
    const { seconds, cpuPercent } = await timed(() => submitAll(req.updates))()
    const events = (await head.lastSeq()) - seqBefore
    const statsAfter = services.updater.stats()
    await head.close()
    const flushes = statsAfter.flushes - statsBefore.flushes
    return {
      updates: req.updates,
      seconds,
      perSec: req.updates / seconds,
      events,
      cpuPercent,
      results,
      flushes,
      meanFlushMs: flushes === 0 ? 0 : (seconds * 1000) / flushes,
    }
  } finally {
    await services.stop()
  }
}

/** Every pass over the ids moves each status's progress by one, so every update is a real change. */
function batches(ids: string[], batchSize: number) {
  let counter = 0
  return (total: number) => {
    const out: { id: string; progress: number }[][] = []
    for (let done = 0; done < total; done += batchSize) {
      const batch = []
      for (let i = 0; i < Math.min(batchSize, total - done); i++, counter++) {
        const pass = Math.floor(counter / ids.length)
        batch.push({ id: ids[counter % ids.length]!, progress: (pass % 99) + 1 })
      }
      out.push(batch)
    }
    return out
  }
}

/**
 * Times a raw driver writing `req.updates` updates in batches (after one warm-up pass over every id),
 * and counts the events the feed head moved by meanwhile.
 */
async function measureRaw(
  driver: 'better-sqlite3' | 'pg',
  req: Pick<InProcessRequest, 'url' | 'updates' | 'batchSize'>,
  ids: string[],
  sample: { record: string; changes: string },
  writeBatch: (batch: { id: string; progress: number }[]) => unknown,
) {
  const next = batches(ids, req.batchSize)
  const writeAll = async (total: number) => {
    for (const batch of next(total)) await writeBatch(batch)
  }
  await writeAll(ids.length) // warm-up
  const head = await storeAccess(req.url).openFeedHead(TENANT)
  const seqBefore = await head.lastSeq()
  const { seconds, cpuPercent } = await timed(() => writeAll(req.updates))()
  const events = (await head.lastSeq()) - seqBefore
  await head.close()
  return {
    driver,
    updates: req.updates,
    seconds,
    perSec: req.updates / seconds,
    events,
    cpuPercent,
    batchSize: req.batchSize,
    recordBytes: Buffer.byteLength(sample.record) + Buffer.byteLength(sample.changes),
  }
}

async function runRaw(req: InProcessRequest) {
  return storeAccess(req.url).kind === 'postgres' ? runRawPg(req) : runRawSqlite(req)
}

/**
 * The raw ceiling's writes on SQLite: per batch one transaction that moves the tenant's `last_seq`,
 * then per update one UPDATE … RETURNING of the status and one INSERT of its event.
 */
function rawSqliteWriter(
  db: BetterSqlite3.Database,
  sample: { occurred_at: unknown; changes: string; record: string },
) {
  const now = () => (typeof sample.occurred_at === 'number' ? Date.now() : new Date().toISOString())
  const update = db.prepare<[number, unknown, string, string], { version: number }>(
    'UPDATE statuses SET progress = ?, version = version + 1, updated_at = ? WHERE tenant_id = ? AND status_id = ? RETURNING version',
  )
  const bump = db.prepare<[number, string], { last_seq: number | bigint }>(
    'UPDATE tenants SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq',
  )
  const insert = db.prepare(
    `INSERT INTO status_events (tenant_id, seq, event_id, type, status_id, version, occurred_at, changes, record)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  return db.transaction((batch: { id: string; progress: number }[]) => {
    const first = Number(bump.get(batch.length, TENANT)!.last_seq) - batch.length + 1
    const at = now()
    batch.forEach(({ id, progress }, i) => {
      const { version } = update.get(progress, at, TENANT, id)!
      insert.run(
        TENANT,
        first + i,
        uuidv7(),
        'status.progress',
        id,
        version,
        at,
        sample.changes,
        sample.record,
      )
    })
  })
}

function openRawSqlite(url: string) {
  const db = new BetterSqlite3(url.replace(/^file:/, ''), { timeout: 10_000 })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL') // as the service opens it (SQLITE_SYNCHRONOUS default)
  // The newest event gives the payload, and how dates are stored.
  const sample = db
    .prepare(
      'SELECT occurred_at, changes, record FROM status_events WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1',
    )
    .get(TENANT) as { occurred_at: unknown; changes: string; record: string }
  const ids = (
    db
      .prepare("SELECT status_id FROM statuses WHERE tenant_id = ? AND status_id LIKE 'inproc-%' ORDER BY 1")
      .all(TENANT) as { status_id: string }[]
  )
    .map((r) => r.status_id)
    .filter((id) => id !== 'inproc-template')
  return { db, sample, ids }
}

async function runRawSqlite(req: InProcessRequest) {
  const { db, sample, ids } = openRawSqlite(req.url)
  try {
    return await measureRaw('better-sqlite3', req, ids, sample, rawSqliteWriter(db, sample))
  } finally {
    db.close()
  }
}

async function runRawPg(req: InProcessRequest) {
  const db = new Client({ connectionString: req.url, options: '-c TimeZone=UTC' })
  await db.connect()
  try {
    const sample = (
      await db.query<{ changes: string; record: string }>(
        'SELECT changes, record FROM status_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
        [TENANT],
      )
    ).rows[0]!
    const ids = (
      await db.query<{ status_id: string }>(
        "SELECT status_id FROM statuses WHERE tenant_id = $1 AND status_id LIKE 'inproc-%' AND status_id <> 'inproc-template' ORDER BY 1",
        [TENANT],
      )
    ).rows.map((r) => r.status_id)
    // Named, so each is parsed once per connection, as better-sqlite3's prepared statements are.
    const bump = {
      name: 'bench-bump',
      text: 'UPDATE tenants SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq',
    }
    const write = {
      name: 'bench-write',
      text: `WITH v AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::text[]) WITH ORDINALITY v(id, progress, event_id, ord)),
        u AS (UPDATE statuses s SET progress = v.progress, version = s.version + 1, updated_at = $4
              FROM v WHERE s.tenant_id = $5 AND s.status_id = v.id RETURNING s.status_id, s.version)
        INSERT INTO status_events (tenant_id, seq, event_id, type, status_id, version, occurred_at, changes, record)
        SELECT $5, $6::bigint + v.ord - 1, v.event_id, 'status.progress', u.status_id, u.version, $4, $7, $8
        FROM u JOIN v ON v.id = u.status_id`,
    }
    const writeBatch = async (batch: { id: string; progress: number }[]) => {
      await db.query('BEGIN')
      try {
        const { rows } = await db.query<{ last_seq: string }>({ ...bump, values: [batch.length, TENANT] })
        const first = Number(rows[0]!.last_seq) - batch.length + 1
        await db.query({
          ...write,
          values: [
            batch.map((b) => b.id),
            batch.map((b) => b.progress),
            batch.map(() => uuidv7()),
            new Date(),
            TENANT,
            first,
            sample.changes,
            sample.record,
          ],
        })
        await db.query('COMMIT')
      } catch (err) {
        await db.query('ROLLBACK')
        throw err
      }
    }
    return await measureRaw('pg', req, ids, sample, writeBatch)
  } finally {
    await db.end()
  }
}

/** The runs' statuses: one made through the service, the rest cloned from it. */
async function makeFixtures(services: Services, url: string, statuses: number): Promise<string[]> {
  await services.apiKeys.bootstrap()
  await services.statuses.create(TENANT, {
    status_id: 'inproc-template',
    kind: 'bench.fixture',
    tags: ['bench'],
  })
  return storeAccess(url).cloneStatuses(TENANT, 'inproc-template', 'inproc', statuses)
}

async function seed(url: string, statuses: number) {
  const services = await createServices({ db: await openDatabase({ url }) })
  try {
    await makeFixtures(services, url, statuses)
  } finally {
    await services.stop()
  }
}

async function runSchemaCost(req: SchemaCostRequest) {
  await seed(req.url, req.statuses)
  const file = req.url.replace(/^file:/, '')
  const base = new BetterSqlite3(file)
  base.pragma('wal_checkpoint(TRUNCATE)') // the copies are then whole files
  base.close()
  const results: { name: string; perSec: number; seconds: number; events: number }[] = []
  for (const [i, variant] of req.variants.entries()) {
    const copy = `${file}.variant-${i}`
    copyFileSync(file, copy)
    const { db, sample, ids } = openRawSqlite(`file:${copy}`)
    try {
      for (const sql of variant.sql) db.exec(sql)
      const payload = variant.emptyPayload ? { ...sample, changes: '{}', record: '{}' } : sample
      const run = await measureRaw(
        'better-sqlite3',
        { ...req, url: `file:${copy}` },
        ids,
        payload,
        rawSqliteWriter(db, payload),
      )
      results.push({ name: variant.name, perSec: run.perSec, seconds: run.seconds, events: run.events })
    } finally {
      db.close()
      for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true })
    }
  }
  return results
}

serve({
  async run(message): Promise<InProcessResult> {
    const req = message as unknown as InProcessRequest
    const updater = await runUpdater(req)
    const raw = await runRaw(req)
    return { updater, raw }
  },
  async 'schema-cost'(message) {
    return { variants: await runSchemaCost(message as unknown as SchemaCostRequest) }
  },
})
