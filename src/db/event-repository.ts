import { randomUUID } from 'node:crypto'
import type { StatusEvent } from '../domain/status-record'
import type { Database } from './prisma'
import { eventOf } from './status-repository'

interface RawEvent {
  seq: number
  event_id: string
  type: string
  status_id: string
  version: number
  occurred_at: string | Date
  changes: string
  record: string
  lines: string | null
}

const toEvent = (raw: RawEvent): StatusEvent =>
  eventOf({
    seq: raw.seq,
    eventId: raw.event_id,
    type: raw.type,
    statusId: raw.status_id,
    version: raw.version,
    occurredAt: new Date(raw.occurred_at),
    changes: raw.changes,
    record: raw.record,
    lines: raw.lines,
  })

export interface Checkpoint {
  lastSeq: number
  lockedBy: string | null
  lockedUntil: Date | null
}

interface RawCheckpoint {
  tenant_id: string
  last_seq: number | bigint
  locked_by: string | null
  locked_until: string | Date | null
}

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
  const { direct, dialect } = db

  return {
    async after(tenantId: string, afterSeq: number, limit: number): Promise<StatusEvent[]> {
      const rows = await direct.all<RawEvent>(
        `SELECT seq, event_id, type, status_id, version, occurred_at, changes, record, lines FROM status_events
         WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
        [tenantId, afterSeq, limit],
      )
      return rows.map(toEvent)
    },

    /** One stored event, or undefined once retention purged it. */
    async at(tenantId: string, seq: number): Promise<StatusEvent | undefined> {
      const row = await direct.get<RawEvent>(
        `SELECT seq, event_id, type, status_id, version, occurred_at, changes, record, lines FROM status_events
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

    /** Each tenant's stored position for `sink`, and who holds its lease until when. */
    async checkpoints(sink: string): Promise<Map<string, Checkpoint>> {
      const rows = await direct.all<RawCheckpoint>(
        'SELECT tenant_id, last_seq, locked_by, locked_until FROM sink_checkpoints WHERE sink = ?',
        [sink],
      )
      return new Map(
        rows.map((row) => [
          row.tenant_id,
          {
            lastSeq: Number(row.last_seq),
            lockedBy: row.locked_by,
            lockedUntil: row.locked_until === null ? null : new Date(row.locked_until),
          },
        ]),
      )
    },

    /**
     * Takes the lease on `(sink, tenantId)` for `owner` until `until` and returns the stored `last_seq`, or
     * null when another owner holds an unexpired lease. A missing row is created at seq 0. On PostgreSQL
     * the inner SELECT adds FOR UPDATE SKIP LOCKED, so instances never wait for each other's leases.
     */
    async claimCheckpoint(
      sink: string,
      tenantId: string,
      owner: string,
      now: Date,
      until: Date,
    ): Promise<number | null> {
      return db.write(async (tx) => {
        await tx.$executeRaw`INSERT INTO sink_checkpoints (sink, tenant_id, last_seq, updated_at)
          VALUES (${sink}, ${tenantId}, 0, ${now}) ON CONFLICT (sink, tenant_id) DO NOTHING`
        const [row] = await tx.$queryRaw<{ last_seq: number | bigint }[]>`UPDATE sink_checkpoints
          SET locked_by = ${owner}, locked_until = ${until}
          WHERE sink = ${sink} AND tenant_id IN (
            SELECT tenant_id FROM sink_checkpoints
            WHERE sink = ${sink} AND tenant_id = ${tenantId}
              AND (locked_by = ${owner} OR locked_until IS NULL OR locked_until <= ${now})${dialect.skipLocked}
          )
          RETURNING last_seq`
        return row === undefined ? null : Number(row.last_seq)
      })
    },

    /**
     * Advances the checkpoint to `lastSeq` and renews the lease, only while `owner` holds it and never
     * backwards. False means the lease was lost: another instance relays this tenant now.
     */
    async saveCheckpoint(
      sink: string,
      tenantId: string,
      lastSeq: number,
      owner: string,
      now: Date,
      until: Date,
    ): Promise<boolean> {
      const updated = await db.write(
        (tx) => tx.$executeRaw`UPDATE sink_checkpoints
          SET last_seq = ${lastSeq}, locked_until = ${until}, updated_at = ${now}
          WHERE sink = ${sink} AND tenant_id = ${tenantId} AND locked_by = ${owner} AND last_seq <= ${lastSeq}`,
      )
      return updated === 1
    },

    /** Gives up every lease `owner` holds on `sink`, so another instance can take over at once. */
    async releaseCheckpoints(sink: string, owner: string): Promise<void> {
      await db.write(
        (tx) => tx.$executeRaw`UPDATE sink_checkpoints SET locked_by = NULL, locked_until = NULL
          WHERE sink = ${sink} AND locked_by = ${owner}`,
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
