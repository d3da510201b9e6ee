import type { EventType, StatusEvent } from '../domain/status-record'
import type { Delivery, DeliveryState } from '../domain/webhook'
import type { WebhookDelivery as DeliveryRow } from './generated/client'
import { Prisma, type Database } from './prisma'

/** A webhook as stored: what clients see plus its tenant, secret and the `seq` it starts after. */
export interface StoredWebhook {
  id: string
  tenant_id: string
  url: string
  events: EventType[]
  secret: string
  from_seq: number
  created_at: Date
}

export interface NewWebhook {
  id: string
  tenantId: string
  url: string
  events: EventType[]
  secret: string
  createdAt: Date
}

/** A webhook with deliveries waiting, and when the earliest of them is due. */
export interface DueWebhook {
  id: string
  tenant_id: string
  url: string
  secret: string
  due: Date
}

/** A delivery taken by one dispatcher: what it needs to send it and to record the outcome. */
export interface Claim {
  id: string
  tenant_id: string
  webhook_id: string
  event_id: string
  seq: number
  event_type: EventType
  attempts: number
  max_attempts: number | null
}

export interface AttemptOutcome {
  deliveryId: string
  /** The attempt's number: 1 for the first. */
  attempt: number
  state: DeliveryState
  statusCode: number | null
  /** Null when the receiver answered 2xx. */
  error: string | null
  durationMs: number
  attemptedAt: Date
  nextAttemptAt: Date | null
}

export interface DeliveryPage {
  state?: DeliveryState
  /** Keyset: only deliveries older than this id (ids are UUIDv7, so they sort by creation). */
  beforeId?: string
  limit: number
}

interface RawWebhook {
  id: string
  tenant_id: string
  url: string
  events: string
  secret: string
  from_seq: number | bigint
  created_at: string | Date
}

const toWebhook = (raw: RawWebhook): StoredWebhook => ({
  id: raw.id,
  tenant_id: raw.tenant_id,
  url: raw.url,
  events: JSON.parse(raw.events),
  secret: raw.secret,
  from_seq: Number(raw.from_seq),
  created_at: new Date(raw.created_at),
})

const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  webhook_id: row.webhookId,
  event_id: row.eventId,
  event_type: row.eventType as EventType,
  seq: Number(row.seq),
  state: row.state as DeliveryState,
  attempts: row.attempts,
  last_error: row.lastError,
  next_attempt_at: row.nextAttemptAt,
  last_attempt_at: row.lastAttemptAt,
  created_at: row.createdAt,
})

const SELECT_WEBHOOK = 'SELECT id, tenant_id, url, events, secret, from_seq, created_at FROM webhooks'

// Rows per INSERT: five bound values each, far below SQLite's limit on bound values.
const ENQUEUE_CHUNK = 1_000

/**
 * Webhooks and their deliveries. The sink and the dispatcher read through prepared statements on the
 * direct connection (`wants()` must answer synchronously, and claims run after every delivery); the
 * admin routes use Prisma. Every write goes through `db.write`.
 */
export function createWebhookRepository(db: Database) {
  const { direct, dialect } = db

  return {
    /** A tenant's webhooks, oldest first. */
    async list(tenantId: string): Promise<StoredWebhook[]> {
      const rows = await direct.all<RawWebhook>(
        `${SELECT_WEBHOOK} WHERE tenant_id = ? ORDER BY created_at, id`,
        [tenantId],
      )
      return rows.map(toWebhook)
    },

    async get(tenantId: string, id: string): Promise<StoredWebhook | null> {
      const raw = await direct.get<RawWebhook>(`${SELECT_WEBHOOK} WHERE tenant_id = ? AND id = ?`, [
        tenantId,
        id,
      ])
      return raw === undefined ? null : toWebhook(raw)
    },

    /** Stores a webhook that will receive the events after the tenant's current last `seq`. */
    async insert(hook: NewWebhook): Promise<StoredWebhook> {
      return db.write(async (tx) => {
        const [tenant] = await tx.$queryRaw<{ last_seq: bigint | number }[]>`SELECT last_seq FROM tenants
          WHERE id = ${hook.tenantId}`
        const fromSeq = Number(tenant?.last_seq ?? 0)
        await tx.webhook.create({
          data: {
            id: hook.id,
            tenantId: hook.tenantId,
            url: hook.url,
            events: JSON.stringify(hook.events),
            secret: hook.secret,
            fromSeq,
            createdAt: hook.createdAt,
          },
        })
        return {
          id: hook.id,
          tenant_id: hook.tenantId,
          url: hook.url,
          events: hook.events,
          secret: hook.secret,
          from_seq: fromSeq,
          created_at: hook.createdAt,
        }
      })
    },

    /** Deletes the webhook with its deliveries and their attempts; false when the tenant has no such webhook. */
    async remove(tenantId: string, id: string): Promise<boolean> {
      return db.write(async (tx) => {
        const deleted =
          await tx.$executeRaw`DELETE FROM webhooks WHERE tenant_id = ${tenantId} AND id = ${id}`
        if (deleted === 0) return false
        await tx.$executeRaw`DELETE FROM webhook_attempts
          WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ${id})`
        await tx.$executeRaw`DELETE FROM webhook_deliveries WHERE webhook_id = ${id}`
        return true
      })
    },

    /**
     * Inserts a pending delivery per (webhook, event), due now, in one transaction. Pairs already stored
     * are skipped (the sink is at-least-once), and so are webhooks deleted meanwhile. Returns how many
     * were new.
     */
    async enqueue(
      tenantId: string,
      items: { webhookId: string; deliveryId: string; event: StatusEvent }[],
      now: Date,
    ): Promise<number> {
      return db.write(async (tx) => {
        let inserted = 0
        for (let start = 0; start < items.length; start += ENQUEUE_CHUNK) {
          const rows = items
            .slice(start, start + ENQUEUE_CHUNK)
            .map(
              ({ webhookId, deliveryId, event }) =>
                Prisma.sql`(${deliveryId}, ${webhookId}, ${event.event_id}, CAST(${event.seq} AS BIGINT), ${event.type})`,
            )
          // The CAST types the VALUES column for PostgreSQL, which reads an untyped parameter as text.
          // `WHERE true` tells SQLite's parser that ON CONFLICT starts the upsert, not a join constraint.
          inserted +=
            await tx.$executeRaw`INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_id,
              seq, event_type, state, attempts, next_attempt_at, created_at, updated_at)
            SELECT v.column1, ${tenantId}, v.column2, v.column3, v.column4, v.column5, 'pending', 0, ${now}, ${now}, ${now}
            FROM (VALUES ${Prisma.join(rows)}) AS v
            JOIN webhooks w ON w.id = v.column2 AND w.tenant_id = ${tenantId}
            WHERE true
            ON CONFLICT (webhook_id, event_id) DO NOTHING`
        }
        return inserted
      })
    },

    /** Webhooks with pending deliveries nobody holds, earliest due first. */
    async dueWebhooks(now: Date): Promise<DueWebhook[]> {
      // Per webhook, the earliest pending delivery nobody holds: one short walk of its index each.
      const rows = await direct.all<Omit<DueWebhook, 'due'> & { due: string | Date | null }>(
        `SELECT w.id, w.tenant_id, w.url, w.secret,
           (SELECT d.next_attempt_at FROM webhook_deliveries d
            WHERE d.webhook_id = w.id AND d.state = 'pending' AND (d.locked_until IS NULL OR d.locked_until <= ?)
            ORDER BY d.next_attempt_at LIMIT 1) AS due
         FROM webhooks w`,
        [dialect.jsonTime(now)],
      )
      return rows
        .flatMap((row) => (row.due === null ? [] : [{ ...row, due: new Date(row.due) }]))
        .sort((a, b) => a.due.getTime() - b.due.getTime())
    },

    /**
     * Takes, for each webhook asked for, up to its `limit` of due deliveries for `owner` until `until`,
     * in one transaction, in `seq` order per webhook. A lease that ran out (its holder died) makes a
     * delivery claimable again. The one place that picks work: on PostgreSQL the inner SELECT adds
     * FOR UPDATE SKIP LOCKED, so concurrent instances never take the same row nor wait for each other.
     */
    async claim(
      wanted: { webhookId: string; limit: number }[],
      owner: string,
      now: Date,
      until: Date,
    ): Promise<Claim[]> {
      const rows = await db.write(async (tx) => {
        const taken: (Omit<Claim, 'seq'> & { seq: number | bigint })[] = []
        for (const { webhookId, limit } of wanted) {
          taken.push(
            ...(await tx.$queryRaw<
              (Omit<Claim, 'seq'> & { seq: number | bigint })[]
            >`UPDATE webhook_deliveries
              SET locked_by = ${owner}, locked_until = ${until}
              WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE webhook_id = ${webhookId} AND state = 'pending' AND next_attempt_at <= ${now}
                  AND (locked_until IS NULL OR locked_until <= ${now})
                ORDER BY next_attempt_at, seq
                LIMIT ${limit}${dialect.skipLocked}
              )
              RETURNING id, tenant_id, webhook_id, event_id, seq, event_type, attempts, max_attempts`),
          )
        }
        return taken
      })
      return rows.map((row) => ({ ...row, seq: Number(row.seq) })).sort((a, b) => a.seq - b.seq)
    },

    /**
     * Records attempts and releases their leases, in one transaction. An outcome whose lease `owner` no
     * longer holds (it expired and another dispatcher took the delivery, or the webhook was deleted) is
     * dropped. Returns how many were recorded.
     */
    async record(owner: string, outcomes: AttemptOutcome[]): Promise<number> {
      return db.write(async (tx) => {
        let recorded = 0
        for (const o of outcomes) {
          const lastError = o.error === null ? Prisma.sql`last_error` : Prisma.sql`${o.error}`
          const updated = await tx.$executeRaw`UPDATE webhook_deliveries
            SET state = ${o.state}, attempts = ${o.attempt}, last_error = ${lastError},
              next_attempt_at = ${o.nextAttemptAt}, last_attempt_at = ${o.attemptedAt},
              locked_by = NULL, locked_until = NULL, updated_at = ${o.attemptedAt}
            WHERE id = ${o.deliveryId} AND locked_by = ${owner}`
          if (updated === 0) continue
          await tx.$executeRaw`INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error,
              duration_ms, attempted_at)
            VALUES (${o.deliveryId}, ${o.attempt}, ${o.statusCode}, ${o.error}, ${o.durationMs}, ${o.attemptedAt})`
          recorded += 1
        }
        return recorded
      })
    },

    /** A webhook's deliveries, newest first. */
    async deliveries(tenantId: string, webhookId: string, page: DeliveryPage): Promise<Delivery[]> {
      const rows = await db.read.webhookDelivery.findMany({
        where: {
          tenantId,
          webhookId,
          ...(page.state && { state: page.state }),
          ...(page.beforeId !== undefined && { id: { lt: page.beforeId } }),
        },
        orderBy: { id: 'desc' },
        take: page.limit,
      })
      return rows.map(toDelivery)
    },

    async delivery(tenantId: string, webhookId: string, id: string): Promise<Delivery | null> {
      const row = await db.read.webhookDelivery.findFirst({ where: { id, tenantId, webhookId } })
      return row && toDelivery(row)
    },

    /**
     * Makes a delivered or dead delivery pending again, due now, with one more attempt allowed. False
     * when there is no such delivery or it is still pending.
     */
    async requeue(tenantId: string, webhookId: string, id: string, now: Date): Promise<boolean> {
      const updated = await db.write(
        (tx) => tx.$executeRaw`UPDATE webhook_deliveries
          SET state = 'pending', next_attempt_at = ${now}, max_attempts = attempts + 1, updated_at = ${now}
          WHERE id = ${id} AND tenant_id = ${tenantId} AND webhook_id = ${webhookId} AND state <> 'pending'`,
      )
      return updated === 1
    },

    /** Pending deliveries of every webhook, for the metrics. */
    async countPending(): Promise<number> {
      // Counted per webhook through its index, so delivered rows are never read.
      const row = await direct.get<{ n: number | string | null }>(
        `SELECT SUM((SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending'))
           AS n FROM webhooks w`,
      )
      return Number(row?.n ?? 0)
    },
  }
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>
