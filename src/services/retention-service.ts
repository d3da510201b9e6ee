import { setImmediate as yieldToOthers } from 'node:timers/promises'
import type { Logger } from 'pino'
import { Prisma, type Database } from '../db/prisma'
import type { StatusValue } from '../domain/transitions'
import type { Metrics } from '../metrics'

const DAY_MS = 86_400_000

export interface RetentionOptions {
  db: Database
  logger: Logger
  clock: () => Date
  metrics: Metrics
  /** `completed` and `cancelled` statuses untouched for this many days are purged. */
  terminalDays: number
  /** `failed` statuses untouched for this many days are purged. */
  failedDays: number
  /** Events that occurred this many days ago are purged, oldest `seq` first. */
  eventsDays: number
  /** Time between purges; 0 turns the background purge off (`purgeOnce()` still works). */
  intervalMs: number
  /** Rows deleted per transaction, so a purge never holds the write lock for long. */
  batchSize: number
}

export interface PurgeResult {
  statuses: number
  events: number
  deliveries: number
}

/**
 * The background purge of SPEC §7. It deletes rows directly, so it emits no events, and it only ever
 * selects terminal statuses. Each batch is its own short transaction, and it yields between batches so
 * requests and the batched updater interleave with a long purge.
 *
 * Events are purged as a prefix of each tenant's feed (lowest `seq` first, stopping at the first event
 * still inside the window), so what remains is always a contiguous run of `seq`: a reader resuming
 * before its start is told to resync (`status.resync`, or `410 events-expired` on the REST feed).
 *
 * Webhook deliveries go with their events: once an event is purged, its finished (`delivered` or `dead`)
 * deliveries and their attempts are deleted too, since a retry could no longer send anything. Pending ones
 * are left to the dispatcher, which marks them dead ("the event is no longer stored").
 */
export function createRetentionService(options: RetentionOptions) {
  const { db, logger, clock, metrics, batchSize } = options
  let timer: NodeJS.Timeout | undefined
  let running: Promise<PurgeResult> | undefined
  let stopped = false

  const cutoff = (days: number) => new Date(clock().getTime() - days * DAY_MS)

  async function tenants(): Promise<string[]> {
    const rows = await db.read.$queryRaw<{ id: string }[]>`SELECT id FROM tenants ORDER BY id`
    return rows.map((row) => row.id)
  }

  /** Deletes up to one batch of the tenant's statuses in `states` last updated before `before`. */
  async function purgeStatusBatch(tenantId: string, states: StatusValue[], before: Date): Promise<number> {
    return db.write(
      (tx) => tx.$executeRaw`DELETE FROM statuses WHERE tenant_id = ${tenantId} AND status_id IN (
        SELECT status_id FROM statuses
        WHERE tenant_id = ${tenantId} AND status IN (${Prisma.join(states)})
          AND updated_at < ${before}
        LIMIT ${batchSize})`,
    )
  }

  /** Deletes up to one batch from the front of the tenant's feed, up to the first event to keep. */
  async function purgeEventBatch(tenantId: string, before: Date): Promise<number> {
    return db.write(async (tx) => {
      const front = await tx.$queryRaw<{ seq: bigint | number; old: bigint | number }[]>`
        SELECT seq, occurred_at < ${before} AS old FROM status_events
        WHERE tenant_id = ${tenantId} ORDER BY seq LIMIT ${batchSize}`
      const keep = front.findIndex((row) => !Number(row.old))
      const purgeable = keep === -1 ? front : front.slice(0, keep)
      if (purgeable.length === 0) return 0
      const last = purgeable[purgeable.length - 1]!.seq
      return tx.$executeRaw`DELETE FROM status_events WHERE tenant_id = ${tenantId} AND seq <= ${last}`
    })
  }

  /** Deletes up to one batch of a webhook's finished deliveries of events before the tenant's oldest. */
  async function purgeDeliveryBatch(tenantId: string, webhookId: string): Promise<number> {
    return db.write(async (tx) => {
      const rows = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM webhook_deliveries
        WHERE webhook_id = ${webhookId} AND state IN ('delivered', 'dead')
          AND seq < COALESCE((SELECT MIN(seq) FROM status_events WHERE tenant_id = ${tenantId}),
                             (SELECT last_seq + 1 FROM tenants WHERE id = ${tenantId}))
        LIMIT ${batchSize}`
      if (rows.length === 0) return 0
      const ids = Prisma.join(rows.map((row) => row.id))
      await tx.$executeRaw`DELETE FROM webhook_attempts WHERE delivery_id IN (${ids})`
      return tx.$executeRaw`DELETE FROM webhook_deliveries WHERE id IN (${ids})`
    })
  }

  async function webhooksOf(tenantId: string): Promise<string[]> {
    const rows = await db.read.$queryRaw<{ id: string }[]>`
      SELECT id FROM webhooks WHERE tenant_id = ${tenantId} ORDER BY id`
    return rows.map((row) => row.id)
  }

  /** Runs `batch` until it deletes less than a full batch, or the service stops. */
  async function drain(batch: () => Promise<number>): Promise<number> {
    let total = 0
    while (!stopped) {
      const n = await batch()
      total += n
      if (n < batchSize) break
      await yieldToOthers()
    }
    return total
  }

  async function purge(): Promise<PurgeResult> {
    const result: PurgeResult = { statuses: 0, events: 0, deliveries: 0 }
    const finishedBefore = cutoff(options.terminalDays)
    const failedBefore = cutoff(options.failedDays)
    const eventsBefore = cutoff(options.eventsDays)
    for (const tenantId of await tenants()) {
      result.statuses += await drain(() =>
        purgeStatusBatch(tenantId, ['completed', 'cancelled'], finishedBefore),
      )
      result.statuses += await drain(() => purgeStatusBatch(tenantId, ['failed'], failedBefore))
      result.events += await drain(() => purgeEventBatch(tenantId, eventsBefore))
      for (const webhookId of await webhooksOf(tenantId))
        result.deliveries += await drain(() => purgeDeliveryBatch(tenantId, webhookId))
    }
    metrics.retentionPurged.inc({ kind: 'statuses' }, result.statuses)
    metrics.retentionPurged.inc({ kind: 'events' }, result.events)
    metrics.retentionPurged.inc({ kind: 'webhook_deliveries' }, result.deliveries)
    if (result.statuses + result.events + result.deliveries > 0) logger.info(result, 'retention purge')
    return result
  }

  function schedule(): void {
    if (stopped || options.intervalMs === 0) return
    timer = setTimeout(() => {
      void purgeOnce()
        .catch((err: unknown) => logger.error({ err }, 'retention purge failed'))
        .finally(schedule)
    }, options.intervalMs)
    timer.unref()
  }

  /** One purge now; a call while one runs joins it. */
  function purgeOnce(): Promise<PurgeResult> {
    running ??= purge().finally(() => {
      running = undefined
    })
    return running
  }

  return {
    purgeOnce,
    /** Purges once at start (in the background), then every `intervalMs`. */
    start(): void {
      if (options.intervalMs === 0) return
      void purgeOnce()
        .catch((err: unknown) => logger.error({ err }, 'retention purge failed'))
        .finally(schedule)
    },
    /** Stops after the current batch; idempotent. */
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running?.catch(() => undefined)
    },
  }
}

export type RetentionService = ReturnType<typeof createRetentionService>
