import { randomUUID } from 'node:crypto'
import type { EventType, StatusEvent } from '../domain/status-record'
import type { Database } from './prisma'

interface RawEvent {
  seq: number
  event_id: string
  type: string
  status_id: string
  version: number
  occurred_at: string | Date
  changes: string
  record: string
}

const toEvent = (raw: RawEvent): StatusEvent => ({
  event_id: raw.event_id,
  seq: Number(raw.seq),
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
  const { direct } = db

  return {
    async after(tenantId: string, afterSeq: number, limit: number): Promise<StatusEvent[]> {
      const rows = await direct.all<RawEvent>(
        `SELECT seq, event_id, type, status_id, version, occurred_at, changes, record FROM status_events
         WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
        [tenantId, afterSeq, limit],
      )
      return rows.map(toEvent)
    },

    /** One stored event, or undefined once retention purged it. */
    async at(tenantId: string, seq: number): Promise<StatusEvent | undefined> {
      const row = await direct.get<RawEvent>(
        `SELECT seq, event_id, type, status_id, version, occurred_at, changes, record FROM status_events
         WHERE tenant_id = ? AND seq = ?`,
        [tenantId, seq],
      )
      return row && toEvent(row)
    },

    /** Every tenant's last handed-out `seq`. */
    async heads(): Promise<Map<string, number>> {
      const rows = await direct.all<{ id: string; last_seq: number }>('SELECT id, last_seq FROM tenants')
      return new Map(rows.map((row) => [row.id, Number(row.last_seq)]))
    },

    async head(tenantId: string): Promise<number> {
      const row = await direct.get<{ last_seq: number }>('SELECT last_seq FROM tenants WHERE id = ?', [
        tenantId,
      ])
      return Number(row?.last_seq ?? 0)
    },

    /** The oldest event still stored for the tenant, or null when none is. */
    async oldestSeq(tenantId: string): Promise<number | null> {
      const row = await direct.get<{ seq: number | null }>(
        'SELECT MIN(seq) AS seq FROM status_events WHERE tenant_id = ?',
        [tenantId],
      )
      return row?.seq === null || row?.seq === undefined ? null : Number(row.seq)
    },

    async checkpoints(sink: string): Promise<Map<string, number>> {
      const rows = await direct.all<{ tenant_id: string; last_seq: number }>(
        'SELECT tenant_id, last_seq FROM sink_checkpoints WHERE sink = ?',
        [sink],
      )
      return new Map(rows.map((row) => [row.tenant_id, Number(row.last_seq)]))
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
