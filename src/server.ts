import type { AddressInfo } from 'node:net'
import { createApp } from './app'
import { ConfigError, loadConfig, type Config } from './config'
import { openDatabase } from './db/prisma'
import { createLogger } from './logger'
import { createServices } from './services'

/** Starts the whole service; `stop()` drains it and may be called any number of times. */
export async function startServer(config: Config) {
  const logger = createLogger(config.LOG_LEVEL)
  const db = await openDatabase({ url: config.DATABASE_URL, synchronous: config.SQLITE_SYNCHRONOUS })
  const services = await createServices({ db, idempotencyTtlHours: config.IDEMPOTENCY_TTL_HOURS })

  const adminKey = await services.apiKeys.bootstrap()
  if (adminKey) {
    process.stdout.write(
      `\nCreated an admin API key for tenant "default". It is shown only this once:\n\n  ${adminKey}\n\n`,
    )
  }

  const app = createApp({
    services,
    logger,
    rateLimit: { rps: config.RATE_LIMIT_RPS, burst: config.RATE_LIMIT_BURST },
    checkReady: db.ping,
  })
  const server = app.listen(config.PORT, config.HOST)
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject))
  const { port } = server.address() as AddressInfo
  logger.info({ port, host: config.HOST, database: config.DATABASE_URL }, `listening on http://${config.HOST}:${port}`)

  let stopping: Promise<void> | undefined
  // Safe to call twice: the second call waits for the first.
  const stop = (signal = 'stop') =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'shutting down')
      const deadline = setTimeout(() => {
        logger.error('shutdown grace period over, exiting')
        process.exit(1)
      }, config.SHUTDOWN_GRACE_MS)
      deadline.unref()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
      await db.close()
      clearTimeout(deadline)
      logger.info('stopped')
    })())

  return { port, stop }
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
  const { stop } = await startServer(config)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void stop(signal).then(() => process.exit(0)))
  }
}

if (require.main === module) main().catch((err) => {
  process.stderr.write(`Status Tracker failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
