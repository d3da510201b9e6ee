import http from 'node:http'
import type { DestinationStream } from 'pino'
import { io, type Socket as ClientSocket } from 'socket.io-client'
import supertest from 'supertest'
import { createApp, type HttpApp } from '../../src/app'
import { createLogger } from '../../src/logger'
import type { CorsOrigins } from '../../src/http/cors'
import { openDatabase, type Database, type PrismaClient } from '../../src/db/prisma'
import { createServices, type ServiceOptions, type Services } from '../../src/services'
import type { Scope } from '../../src/services/api-key-service'
import { postgresRateLimitStore } from '../../src/db/rate-limit-repository'
import { attachSocketServer } from '../../src/realtime/socket-server'
import { listenOnLoopback } from './listen'
import { createTestDatabase, testStore } from './test-database'

export interface TestAppOptions {
  /** The limiter's clock may be moved by hand, apart from the services' `clock`. */
  rateLimit?: { rps: number; burst: number; clock?: () => Date }
  clock?: () => Date
  idempotencyTtlHours?: number
  updater?: ServiceOptions['updater']
  events?: ServiceOptions['eventManager']
  retention?: ServiceOptions['retention']
  webhooks?: ServiceOptions['webhooks']
  corsOrigins?: CorsOrigins
  /** Where the app logs, at `logLevel` (default: LOG_LEVEL, else silent); for tests that read the log. */
  logTo?: DestinationStream
  logLevel?: string
}

export interface TestApp {
  /** The app itself: its listener for tests that listen on a real port, its Express app for its routes. */
  app: HttpApp
  request: ReturnType<typeof supertest>
  services: Services
  db: Database
  /** The SQLite file, for tests that fill or inspect it directly ('' on PostgreSQL). */
  file: string
  /** The database URL (a file: URL, or a PostgreSQL database of this app's own). */
  url: string
  /** The read connection: sees committed data only. */
  prisma: PrismaClient
  /** An admin key of tenant `default`. */
  adminKey: string
  /** A new key in `tenant` (created when new) with the given scopes. */
  makeKey(tenant?: string, scopes?: Scope[]): Promise<string>
  close(): Promise<void>
}

/**
 * The real app over a real database of its own (a SQLite file, or a fresh PostgreSQL database when
 * TEST_POSTGRES_URL is set), as server.ts builds it but without listening.
 */
export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const store = await createTestDatabase()
  const db = await openDatabase({ url: store.url })
  const logger = createLogger(
    options.logLevel ?? process.env.LOG_LEVEL ?? 'silent',
    options.logTo ?? process.stdout,
  )
  const services = await createServices({
    db,
    logger,
    clock: options.clock,
    idempotencyTtlHours: options.idempotencyTtlHours,
    updater: options.updater,
    eventManager: options.events,
    // Tests purge when they choose to, with purgeOnce().
    retention: { intervalMs: 0, ...options.retention },
    webhooks: options.webhooks,
  })
  await services.start()
  // On PostgreSQL the buckets live in the database, as server.ts sets it up there.
  const shared = testStore === 'postgresql' ? postgresRateLimitStore(store.url) : undefined
  const app = createApp({
    services,
    logger,
    rateLimit: { ...(options.rateLimit ?? { rps: 100_000, burst: 200_000 }), store: shared },
    checkReady: db.ping,
    corsOrigins: options.corsOrigins,
  })
  const makeKey = async (tenant = 'default', scopes: Scope[] = ['status:read', 'status:write']) =>
    (await services.apiKeys.create(tenant, scopes)).secret
  return {
    app,
    request: supertest(app.listener),
    services,
    db,
    file: store.file,
    url: store.url,
    prisma: db.read,
    adminKey: await makeKey('default', ['admin']),
    makeKey,
    async close() {
      await services.stop()
      await shared?.close()
      await store.drop()
    },
  }
}

export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` })

/**
 * The app on a loopback port with its Socket.IO server attached, as server.ts serves them, for tests
 * that use both the REST routes (`t.request`) and real socket clients (`socket()`, closed by `close()`).
 */
export async function listenWithSockets(t: TestApp, logger = createLogger('silent')) {
  const server = http.createServer(t.app.listener)
  const listening = await listenOnLoopback(server)
  const sockets = attachSocketServer(server, {
    credentials: t.services,
    eventManager: t.services.eventManager,
    statuses: t.services.statuses,
    logger,
  })
  const clients: ClientSocket[] = []
  /** A client of `/status` with `token` (a key or a browser token); resolves once connected, or with the refusal. */
  function socket(token: string): ClientSocket & { connected$: Promise<Error | null> } {
    const client = io(`${listening.url}/status`, {
      transports: ['websocket'],
      auth: { token },
      forceNew: true,
      reconnection: false,
    })
    clients.push(client)
    const connected$ = new Promise<Error | null>((resolve) =>
      client.once('connect', () => resolve(null)).once('connect_error', resolve),
    )
    return Object.assign(client, { connected$ })
  }
  return {
    ...listening,
    socket,
    /** Disconnects the clients opened so far (between tests). */
    disconnectClients: () => clients.splice(0).forEach((client) => client.disconnect()),
    async close() {
      clients.splice(0).forEach((client) => client.disconnect())
      await sockets.close()
      await listening.close()
    },
  }
}
