// Batch ingest without HTTP, run as a worker of scripts/bench.ts (its own process and core):
//   updater  the batched updater of src/ (createServices over a fresh SQLite file), fed `updates` progress
//            updates in submits of `chunk` items over `statuses` statuses, all results awaited;
//   raw      the ceiling: better-sqlite3 on the same file and rows, prepared statements in transactions
//            of the updater's batch size, one status UPDATE and one event INSERT per update.
import { randomUUID } from 'node:crypto'
import BetterSqlite3 from 'better-sqlite3'
import { openDatabase } from '../../src/db/prisma'
import { createServices } from '../../src/services'
import type { BatchItem, ItemResult } from '../../src/services/status-updater'
import { serve } from './ipc'
import { cloneStatuses, openFeedHead } from './sqlite'

const TENANT = 'default'

export interface InProcessRequest {
  file: string
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
  raw: RunResult & { batchSize: number; recordBytes: number }
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
  const db = await openDatabase({ url: `file:${req.file}` })
  const services = await createServices({
    db,
    updater: { batchSize: req.batchSize, flushMs: req.flushMs, maxQueue: req.maxQueue },
  })
  try {
    await services.apiKeys.bootstrap()
    await services.statuses.create(TENANT, {
      status_id: 'inproc-template',
      kind: 'bench.fixture',
      tags: ['bench'],
    })
    const ids = cloneStatuses(req.file, TENANT, 'inproc-template', 'inproc', req.statuses)
    const head = openFeedHead(req.file, TENANT)

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
    const seqBefore = head.lastSeq()
    const { seconds, cpuPercent } = await timed(() => submitAll(req.updates))()
    const events = head.lastSeq() - seqBefore
    const statsAfter = services.updater.stats()
    head.close()
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
    await services.updater.stop()
    await db.close()
  }
}

async function runRaw(req: InProcessRequest) {
  const db = new BetterSqlite3(req.file, { timeout: 10_000 })
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL') // as the service opens it (SQLITE_SYNCHRONOUS default)
    // The events the updater just wrote give the payload, and how dates are stored.
    const sample = db
      .prepare(
        'SELECT occurred_at, changes, record FROM status_events WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1',
      )
      .get(TENANT) as { occurred_at: unknown; changes: string; record: string }
    const now = () => (typeof sample.occurred_at === 'number' ? Date.now() : new Date().toISOString())
    const ids = (
      db
        .prepare(
          "SELECT status_id FROM statuses WHERE tenant_id = ? AND status_id LIKE 'inproc-%' ORDER BY 1",
        )
        .all(TENANT) as { status_id: string }[]
    )
      .map((r) => r.status_id)
      .filter((id) => id !== 'inproc-template')

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
    const writeBatch = db.transaction((batch: { id: string; progress: number }[]) => {
      const first = Number(bump.get(batch.length, TENANT)!.last_seq) - batch.length + 1
      const at = now()
      batch.forEach(({ id, progress }, i) => {
        const { version } = update.get(progress, at, TENANT, id)!
        insert.run(
          TENANT,
          first + i,
          randomUUID(),
          'status.progress',
          id,
          version,
          at,
          sample.changes,
          sample.record,
        )
      })
    })
    let counter = 0
    const writeAll = async (total: number) => {
      for (let done = 0; done < total; done += req.batchSize) {
        const batch = []
        for (let i = 0; i < Math.min(req.batchSize, total - done); i++, counter++) {
          const pass = Math.floor(counter / ids.length)
          batch.push({ id: ids[counter % ids.length]!, progress: (pass % 99) + 1 })
        }
        writeBatch(batch)
      }
    }
    await writeAll(ids.length) // warm-up
    const head = openFeedHead(req.file, TENANT)
    const seqBefore = head.lastSeq()
    const { seconds, cpuPercent } = await timed(() => writeAll(req.updates))()
    const events = head.lastSeq() - seqBefore
    head.close()
    return {
      updates: req.updates,
      seconds,
      perSec: req.updates / seconds,
      events,
      cpuPercent,
      batchSize: req.batchSize,
      recordBytes: Buffer.byteLength(sample.record) + Buffer.byteLength(sample.changes),
    }
  } finally {
    db.close()
  }
}

serve({
  async run(message): Promise<InProcessResult> {
    const req = message as unknown as InProcessRequest
    const updater = await runUpdater(req)
    const raw = await runRaw(req)
    return { updater, raw }
  },
})
