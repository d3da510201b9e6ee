import { randomUUID } from 'node:crypto'
import type BetterSqlite3 from 'better-sqlite3'
import type { EventType, StatusEvent } from '../domain/status-record'
import type { Database } from './prisma'

interface RawEvent {
  seq: number
  event_id: string
  type: string
  status_id: string
  version: number
  occurred_at: string
  changes: string
  record: string
}

const toEvent = (raw: RawEvent): StatusEvent => ({
  event_id: raw.event_id,
  seq: raw.seq,
  type: raw.type as EventType,
  status_id: raw.status_id,
  version: raw.version,
  occurred_at: new Date(raw.occurred_at),
  changes: JSON.parse(raw.changes),
  status: JSON.parse(raw.record),
})

export interface DeadLetterInput {
  sink: string
  tenantId: string
  event: StatusEvent
  error: string
  attempts: number
}

/**
 * The outbox as the event manager reads it: committed events in `seq` order, the feed's head per
 * tenant, and what each sink has delivered. Reads use prepared statements on the direct connection,
 * since fan-out reads the outbox after every commit.
 */
export function createEventRepository(db: Database) {
  const direct: BetterSqlite3.Database = db.direct
  const after = direct.prepare<[string, number, number], RawEvent>(
    `SELECT seq, event_id, type, status_id, version, occurred_at, changes, record FROM status_events
     WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
  )
  const one = direct.prepare<[string, number], RawEvent>(
    `SELECT seq, event_id, type, status_id, version, occurred_at, changes, record FROM status_events
     WHERE tenant_id = ? AND seq = ?`,
  )
  const heads = direct.prepare<[], { id: string; last_seq: number }>('SELECT id, last_seq FROM tenants')
  const head = direct.prepare<[string], { last_seq: number }>('SELECT last_seq FROM tenants WHERE id = ?')
  const oldest = direct.prepare<[string], { seq: number | null }>(
    'SELECT MIN(seq) AS seq FROM status_events WHERE tenant_id = ?',
  )
  const checkpoints = direct.prepare<[string], { tenant_id: string; last_seq: number }>(
    'SELECT tenant_id, last_seq FROM sink_checkpoints WHERE sink = ?',
  )

  return {
    after(tenantId: string, afterSeq: number, limit: number): StatusEvent[] {
      return after.all(tenantId, afterSeq, limit).map(toEvent)
    },

    /** One stored event, or null when there is none at that `seq` (never written, or purged). */
    at(tenantId: string, seq: number): StatusEvent | null {
      const raw = one.get(tenantId, seq)
      return raw === undefined ? null : toEvent(raw)
    },

    /** Every tenant's last handed-out `seq`. */
    heads(): Map<string, number> {
      return new Map(heads.all().map((row) => [row.id, Number(row.last_seq)]))
    },

    head(tenantId: string): number {
      return Number(head.get(tenantId)?.last_seq ?? 0)
    },

    /** The oldest event still stored for the tenant, or null when none is. */
    oldestSeq(tenantId: string): number | null {
      const seq = oldest.get(tenantId)?.seq
      return seq === null || seq === undefined ? null : Number(seq)
    },

    checkpoints(sink: string): Map<string, number> {
      return new Map(checkpoints.all(sink).map((row) => [row.tenant_id, Number(row.last_seq)]))
    },

    async saveCheckpoint(sink: string, tenantId: string, lastSeq: number, now: Date): Promise<void> {
      await db.write(
        (tx) => tx.$executeRaw`INSERT INTO sink_checkpoints (sink, tenant_id, last_seq, updated_at)
          VALUES (${sink}, ${tenantId}, ${lastSeq}, ${now})
          ON CONFLICT (sink, tenant_id) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
      )
    },

    async deadLetter(items: DeadLetterInput[], now: Date): Promise<void> {
      await db.write(async (tx) => {
        for (const item of items) {
          await tx.deadLetter.create({
            data: {
              id: randomUUID(),
              sink: item.sink,
              tenantId: item.tenantId,
              seq: item.event.seq,
              eventId: item.event.event_id,
              error: item.error,
              attempts: item.attempts,
              createdAt: now,
            },
          })
        }
      })
    },

    async deadLetters(sink: string) {
      const rows = await db.read.deadLetter.findMany({
        where: { sink },
        orderBy: [{ createdAt: 'asc' }, { seq: 'asc' }],
      })
      return rows.map((row) => ({ ...row, seq: Number(row.seq) }))
    },
  }
}

export type EventRepository = ReturnType<typeof createEventRepository>
