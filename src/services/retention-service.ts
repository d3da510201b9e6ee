import { setImmediate as yieldToOthers } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Database } from '../db/prisma'
import { createRetentionRepository } from '../db/retention-repository'
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
  const store = createRetentionRepository(db)
  let timer: NodeJS.Timeout | undefined
  let running: Promise<PurgeResult> | undefined
  let stopped = false
  let started = false

  const cutoff = (days: number) => new Date(clock().getTime() - days * DAY_MS)

  const purgeStatusBatch = (tenantId: string, states: StatusValue[], before: Date) =>
    store.purgeStatuses(tenantId, states, before, batchSize)
  const purgeEventBatch = (tenantId: string, before: Date) => store.purgeEvents(tenantId, before, batchSize)
  const purgeDeliveryBatch = (tenantId: string, webhookId: string) =>
    store.purgeDeliveries(tenantId, webhookId, batchSize)

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
    for (const tenantId of await store.tenants()) {
      result.statuses += await drain(() =>
        purgeStatusBatch(tenantId, ['completed', 'cancelled'], finishedBefore),
      )
      result.statuses += await drain(() => purgeStatusBatch(tenantId, ['failed'], failedBefore))
      result.events += await drain(() => purgeEventBatch(tenantId, eventsBefore))
      for (const webhookId of await store.webhooksOf(tenantId))
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
    /** Purges once at start (in the background), then every `intervalMs`; a second start is a no-op. */
    start(): void {
      if (options.intervalMs === 0 || started || stopped) return
      started = true
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
