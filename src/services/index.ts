import { randomBytes } from 'node:crypto'
import pino, { type Logger } from 'pino'
import { v7 as uuidv7 } from 'uuid'
import { createEventRepository } from '../db/event-repository'
import { createIdempotencyRepository } from '../db/idempotency-repository'
import { createKeyRepository } from '../db/key-repository'
import type { Database } from '../db/prisma'
import { createSettingsRepository } from '../db/settings-repository'
import { createStatusRepository } from '../db/status-repository'
import { createWebhookRepository } from '../db/webhook-repository'
import { toRecord } from '../domain/status-record'
import { createMetrics } from '../metrics'
import { createApiKeyService } from './api-key-service'
import { createCursorCodec } from './cursor-codec'
import { createLivenessSweeper } from './liveness-sweeper'
import { createRetentionService, type RetentionOptions } from './retention-service'
import { createStatusEventManager, type EventManagerOptions } from './status-event-manager'
import { createStatusFilterService } from './status-filter-service'
import { createStatusService } from './status-service'
import { createStatusUpdater } from './status-updater'
import { createStatusWaiters } from './status-waiters'
import { createTokenService } from './token-service'
import { createWebhookDispatcher, type WebhookDispatcherOptions } from './webhook-dispatcher'
import { createWebhookService } from './webhook-service'

export interface ServiceOptions {
  db: Database
  logger?: Logger
  clock?: () => Date
  idempotencyTtlHours?: number
  updater?: { batchSize?: number; flushMs?: number; maxQueue?: number }
  eventManager?: Omit<EventManagerOptions, 'eventRepository' | 'logger' | 'clock' | 'owner'>
  retention?: Partial<Omit<RetentionOptions, 'db' | 'logger' | 'clock' | 'metrics'>>
  webhooks?: Omit<
    WebhookDispatcherOptions,
    'webhooks' | 'eventRepository' | 'logger' | 'metrics' | 'clock' | 'owner'
  >
  /** Called after every commit that wrote events, besides waking this process's event manager. */
  onCommitted?: () => void
  /** SPEC §11: how often the sweeper looks for due statuses, and how many it reads at a time. */
  sweeper?: { intervalMs?: number; batchSize?: number; maxPerSecond?: number }
  /** SPEC §11: waiting reads (`wait=`) one API key may hold at once. */
  maxWaitersPerKey?: number
}

/**
 * Wires repositories and services over one database; used by the server, the CLI and tests alike.
 * Nothing runs in the background until `start()`; `stop()` ends it all, the database included.
 */
export async function createServices({
  db,
  logger = pino({ level: 'silent' }),
  clock = () => new Date(),
  idempotencyTtlHours = 24,
  updater: updaterOptions = {},
  eventManager: eventOptions = {},
  retention: retentionOptions = {},
  webhooks: webhookOptions = {},
  onCommitted: alsoOnCommitted,
  sweeper: sweeperOptions = {},
  maxWaitersPerKey = 1000,
}: ServiceOptions) {
  // Kept in the database so cursors survive restarts and work across instances.
  const settings = createSettingsRepository()
  const cursorSecret = await db.write((tx) =>
    settings.getOrCreate(tx, 'cursor_secret', () => randomBytes(32).toString('base64url')),
  )
  const cursors = createCursorCodec(cursorSecret)
  // The browser tokens' HMAC key, kept there for the same reasons: every instance accepts every token.
  const tokenSecret = await db.write((tx) =>
    settings.getOrCreate(tx, 'token_secret', () => randomBytes(32).toString('base64url')),
  )
  const metrics = createMetrics()
  const statusRepository = createStatusRepository(db)
  const apiKeys = createApiKeyService({ db, keys: createKeyRepository(), clock })
  const eventRepository = createEventRepository(db)
  // Names this instance's leases (relay and webhook deliveries); a restart makes a new owner.
  const owner = uuidv7()
  const eventManager = createStatusEventManager({ ...eventOptions, eventRepository, logger, clock, owner })
  const onCommitted = () => {
    eventManager.notify()
    alsoOnCommitted?.()
  }

  const webhookRepository = createWebhookRepository(db)
  const dispatcher = createWebhookDispatcher({
    ...webhookOptions,
    webhooks: webhookRepository,
    eventRepository,
    logger,
    metrics,
    clock,
    owner,
  })
  const webhooks = createWebhookService({
    webhooks: webhookRepository,
    cursors,
    clock,
    onEnqueued: () => dispatcher.wake(),
  })
  eventManager.addSink(webhooks.sink)
  const waiters = createStatusWaiters({
    read: async (tenantId, statusId) => {
      const found = await statusRepository.get(tenantId, statusId)
      return found && toRecord(found)
    },
    maxPerKey: maxWaitersPerKey,
  })
  eventManager.addSink(waiters.sink)

  const updater = createStatusUpdater({
    db,
    statusRepository,
    idempotency: createIdempotencyRepository(db.dialect),
    logger,
    clock,
    idempotencyTtlMs: idempotencyTtlHours * 3_600_000,
    batchSize: updaterOptions.batchSize ?? 500,
    flushMs: updaterOptions.flushMs ?? 5,
    maxQueue: updaterOptions.maxQueue ?? 100_000,
    onCommitted,
    metrics,
  })
  const statuses = createStatusService({ db, statusRepository, updater, cursors, waiters })
  const sweeper = createLivenessSweeper({
    statusRepository,
    updater,
    logger,
    clock,
    metrics,
    intervalMs: sweeperOptions.intervalMs ?? 1000,
    batchSize: sweeperOptions.batchSize ?? 1000,
    maxPerSecond: sweeperOptions.maxPerSecond,
  })

  metrics.gauge('status_updater_queue_depth', 'Updates waiting in the batched updater', () => updater.depth())
  metrics.gauge('status_waiters', 'Waiting reads (`wait=`) held open', () => waiters.count())
  // A scrape collects its gauges together: the four from the event manager share one stats() (one
  // all-tenant read of the feed heads) rather than running it four times.
  let eventStats: ReturnType<typeof eventManager.stats> | undefined
  const sharedEventStats = () =>
    (eventStats ??= eventManager.stats().finally(() => {
      eventStats = undefined
    }))
  metrics.gauge(
    'status_events_per_second',
    'Events delivered to live subscribers per second (10 s mean)',
    async () => (await sharedEventStats()).events_per_second,
  )
  metrics.gauge(
    'status_event_lag',
    'Events committed but not yet delivered to the slowest sink',
    async () => (await sharedEventStats()).lag,
  )
  metrics.gauge(
    'status_subscribers',
    'Live subscriptions (Socket.IO and SSE)',
    async () => (await sharedEventStats()).subscribers,
  )
  metrics.gauge(
    'status_relay_leases',
    'Tenants this instance relays to durable sinks (webhooks) under a lease',
    async () => (await sharedEventStats()).leases,
  )
  metrics.gauge('webhook_deliveries_pending', 'Webhook deliveries waiting to be sent or retried', () =>
    webhookRepository.countPending(),
  )
  metrics.gauge(
    'webhook_deliveries_in_flight',
    'Webhook requests this instance has on the wire',
    () => dispatcher.stats().in_flight,
  )

  const retention = createRetentionService({
    db,
    logger,
    clock,
    metrics,
    terminalDays: 30,
    failedDays: 30,
    eventsDays: 7,
    intervalMs: 600_000,
    batchSize: 500,
    ...retentionOptions,
  })

  let stopping: Promise<void> | undefined
  /**
   * Stops everything, in SPEC §8's order; a second call waits for the first. `door` is the caller's
   * front door: `close` stops it accepting (the HTTP server, the sockets) and `closed` resolves once the
   * requests in flight are answered. Until then writes are flushed at once, so none waits for a timer.
   * The database is closed last, unless `keepStore` (its opener, sharing it, closes it).
   */
  function stop(door: { close?: () => void; closed?: () => Promise<void>; keepStore?: boolean } = {}) {
    stopping ??= (async () => {
      door.close?.()
      eventManager.closeSubscribers()
      // Waiting reads are answered now (as timeouts), so the requests in flight can end.
      waiters.releaseAll()
      await sweeper.stop()
      await retention.stop()
      await updater.drain()
      await door.closed?.()
      await updater.stop()
      // The event manager's last pass enqueues webhook deliveries for the final events; the dispatcher
      // then lets the requests already on the wire finish, and leaves the rest pending for the next start.
      await eventManager.stop()
      await dispatcher.stop()
      if (!door.keepStore) await db.close()
    })()
    return stopping
  }

  return {
    /** Starts the background work: the event pipeline, webhook deliveries, retention's schedule. */
    async start(): Promise<void> {
      await eventManager.start()
      dispatcher.start()
      retention.start()
      sweeper.start()
    },
    stop,
    statuses,
    filters: createStatusFilterService({ db, cursors, updater, clock }),
    apiKeys,
    tokens: createTokenService({ secret: tokenSecret, apiKeys, lineage: statusRepository.lineage, clock }),
    updater,
    eventManager,
    retention,
    sweeper,
    waiters,
    webhooks,
    dispatcher,
    /** The status repository, for tests that build a writer of their own over it. */
    statusRepository,
    metrics,
  }
}

export type Services = Awaited<ReturnType<typeof createServices>>
