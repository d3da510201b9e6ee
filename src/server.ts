import type { AddressInfo } from 'node:net'
import http from 'node:http'
import { createApp } from './app'
import { ConfigError, loadConfig, type Config } from './config'
import { redactUrl } from './db/migrate'
import { isPostgresUrl } from './db/migrate'
import { openDatabase } from './db/prisma'
import { postgresRateLimitStore } from './db/rate-limit-repository'
import { createLogger } from './logger'
import { joinPostgresCluster } from './realtime/cluster'
import { attachSocketServer } from './realtime/socket-server'
import { createServices } from './services'

/** Starts the whole service; `stop()` drains it and may be called any number of times. */
export interface ServerOptions {
  /**
   * Called when a stop has not finished within SHUTDOWN_GRACE_MS (after it is logged). The process's
   * entry point exits with 1 then; a server started in a test's process leaves the process alone.
   */
  onStuckShutdown?: () => void
}

export async function startServer(config: Config, { onStuckShutdown }: ServerOptions = {}) {
  const logger = createLogger(config.LOG_LEVEL)
  const db = await openDatabase({ url: config.DATABASE_URL, synchronous: config.SQLITE_SYNCHRONOUS })
  // Instances on one PostgreSQL wake each other when they commit events (SQLite is one host: they poll).
  const postgres = isPostgresUrl(config.DATABASE_URL)
  const cluster = postgres ? await joinPostgresCluster(config.DATABASE_URL, logger) : undefined
  const services = await createServices({
    db,
    logger,
    idempotencyTtlHours: config.IDEMPOTENCY_TTL_HOURS,
    updater: {
      batchSize: config.UPDATER_BATCH_SIZE,
      flushMs: config.UPDATER_FLUSH_MS,
      maxQueue: config.UPDATER_MAX_QUEUE,
    },
    eventManager: {
      pollMs: config.EVENT_POLL_MS,
      leaseMs: config.RELAY_LEASE_MS,
      bookmarkMs: config.BOOKMARK_INTERVAL_MS,
    },
    sweeper: { intervalMs: config.SWEEP_INTERVAL_MS, maxPerSecond: config.SWEEP_MAX_PER_SECOND },
    maxWaitersPerKey: config.WAIT_MAX_PER_KEY,
    retention: {
      terminalDays: config.RETENTION_TERMINAL_DAYS,
      failedDays: config.RETENTION_FAILED_DAYS,
      eventsDays: config.RETENTION_EVENTS_DAYS,
      intervalMs: config.RETENTION_INTERVAL_MS,
      batchSize: config.RETENTION_BATCH_SIZE,
    },
    webhooks: {
      maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
      backoffBaseMs: config.WEBHOOK_BACKOFF_BASE_MS,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      concurrency: config.WEBHOOK_CONCURRENCY,
      perWebhook: config.WEBHOOK_CONCURRENCY_PER_WEBHOOK,
    },
    onCommitted: cluster?.announce,
  })

  const adminKey = await services.apiKeys.bootstrap()
  if (adminKey) {
    process.stdout.write(
      `\nCreated an admin API key for tenant "default". It is shown only this once:\n\n  ${adminKey}\n\n`,
    )
  }

  // On PostgreSQL every instance takes from the key's bucket in the database, so a limit holds across them.
  const shared = postgres ? postgresRateLimitStore(config.DATABASE_URL) : undefined
  const app = createApp({
    services,
    logger,
    rateLimit: { rps: config.RATE_LIMIT_RPS, burst: config.RATE_LIMIT_BURST, store: shared },
    checkReady: db.ping,
    corsOrigins: config.CORS_ORIGINS,
  })
  const server = http.createServer(app.listener).listen(config.PORT, config.HOST)
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject))
  const sockets = attachSocketServer(server, {
    credentials: services,
    eventManager: services.eventManager,
    statuses: services.statuses,
    logger,
    cluster,
    corsOrigins: config.CORS_ORIGINS,
  })
  await services.start()
  const { port } = server.address() as AddressInfo
  logger.info(
    { port, host: config.HOST, database: redactUrl(config.DATABASE_URL) },
    `listening on http://${config.HOST}:${port}`,
  )

  let stopping: Promise<void> | undefined
  // Safe to call twice: the second call waits for the first.
  const stop = (signal = 'stop') =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'shutting down')
      const deadline = setTimeout(() => {
        logger.error({ grace_ms: config.SHUTDOWN_GRACE_MS }, 'shutdown grace period over')
        onStuckShutdown?.()
      }, config.SHUTDOWN_GRACE_MS)
      deadline.unref()
      let closed: Promise<void> | undefined
      let socketsClosed: Promise<void> | undefined
      await services.stop({
        // Stop accepting; requests in flight (a batch waiting for its commit) still finish.
        close: () => {
          closed = new Promise<void>((resolve) => server.close(() => resolve()))
          server.closeIdleConnections()
          // Socket.IO's close disconnects its clients at once but resolves only when the HTTP server has
          // closed, that is after the requests in flight, and a batch among them may wait for the writer.
          socketsClosed = sockets.close()
        },
        closed: async () => {
          await closed
          await socketsClosed
          await cluster?.close()
        },
      })
      await shared?.close()
      clearTimeout(deadline)
      logger.info('stopped')
    })())

  return { port, stop, services }
}

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
  // One handler for the process's whole life, in place before start-up begins (on the next tick): a
  // signal during start-up waits for the server to be up, then stops it. Swapping handlers once started
  // would lose a signal, since removing a signal's last listener drops one not yet dispatched.
  const starting = Promise.resolve().then(() =>
    startServer(config, { onStuckShutdown: () => process.exit(1) }),
  )
  const onSignal = (signal: string) =>
    void starting.then(
      ({ stop }) => stop(signal).then(() => process.exit(0)),
      () => undefined, // a failed start is reported below
    )
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, onSignal)
  await starting
}

if (require.main === module)
  main().catch((err) => {
    process.stderr.write(
      `Status Tracker failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    process.exit(1)
  })
