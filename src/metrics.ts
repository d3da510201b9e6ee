import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** One registry per service container, so several in one process (tests) never collide. */
export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  return {
    registry,
    updaterFlushSeconds: new Histogram({
      name: 'status_updater_flush_seconds',
      help: 'Time to write one batch of the batched updater',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    updaterBatchStatuses: new Histogram({
      name: 'status_updater_batch_statuses',
      help: 'Statuses written per batch of the batched updater',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000],
      registers,
    }),
    updaterItems: new Counter({
      name: 'status_updater_items_total',
      help: 'Updates handled by the batched updater, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    retentionPurged: new Counter({
      name: 'status_retention_purged_total',
      help: 'Rows deleted by the retention purge, by kind (statuses, events)',
      labelNames: ['kind'] as const,
      registers,
    }),
    webhookAttempts: new Counter({
      name: 'webhook_delivery_attempts_total',
      help: 'Webhook delivery attempts, by outcome: delivered, retry (failed, will be retried) or dead',
      labelNames: ['outcome'] as const,
      registers,
    }),
    webhookAttemptSeconds: new Histogram({
      name: 'webhook_delivery_attempt_seconds',
      help: 'Time from sending a webhook delivery to its answer, error or timeout',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    rateLimited: new Counter({
      name: 'status_rate_limited_total',
      help: 'Requests refused by the per-key rate limit (429), by tenant',
      labelNames: ['tenant'] as const,
      registers,
    }),
    swept: new Counter({
      name: 'status_swept_total',
      help: 'Statuses the liveness sweeper failed or sent to retry, by reason (heartbeat-timeout, start-timeout, deadline-exceeded)',
      labelNames: ['reason'] as const,
      registers,
    }),
    sweepLagSeconds: new Histogram({
      name: 'status_sweep_lag_seconds',
      help: 'How long the most overdue status of a sweep had been due when the sweep found it',
      buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30],
      registers,
    }),
    /** Values read from the services at scrape time. */
    gauge(name: string, help: string, read: () => number | Promise<number>): void {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(await read())
        },
      })
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>
