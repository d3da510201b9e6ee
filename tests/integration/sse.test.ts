import express from 'express'
import http from 'node:http'
import { loadConfig } from '../../src/config'
import { createEventRepository } from '../../src/db/event-repository'
import { openDatabase, type Database } from '../../src/db/prisma'
import { authenticate } from '../../src/http/auth'
import { errorHandler } from '../../src/http/error-handler'
import { sseRoutes } from '../../src/realtime/sse'
import { startServer } from '../../src/server'
import { createServices } from '../../src/services'
import type { Scope } from '../../src/services/api-key-service'
import type { StatusJson } from '../helpers/status-api'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'
import { sleep, range, until } from '../helpers/wait'
import { freshTenantName } from '../helpers/tenants'
import { listenOnLoopback, type Listening } from '../helpers/listen'
import { openEventStream, type Stream } from '../helpers/sse-stream'

jest.setTimeout(120_000)

let server: Awaited<ReturnType<typeof startServer>>
let baseUrl: string
/** A second connection to the server's database file, to purge events as retention would. */
let db: Database

let store: TestDatabase
beforeAll(async () => {
  store = await createTestDatabase('sse')
  const url = store.url
  // A key up front, so startServer finds a non-empty database and prints no bootstrap key.
  const seeding = await openDatabase({ url })
  await (await createServices({ db: seeding })).apiKeys.create('default', ['admin'])
  await seeding.close()
  server = await startServer(
    loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: url, LOG_LEVEL: 'silent' }),
  )
  baseUrl = `http://127.0.0.1:${server.port}`
  db = await openDatabase({ url })
})

afterAll(async () => {
  await server?.stop()
  await db?.close()
  await store?.drop()
})

const streams: Stream[] = []
const servers: Listening[] = []
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close()
  for (const extra of servers.splice(0)) await extra.close()
  // Every test starts with no subscriber left over from the one before.
  await until(async () => (await subscribers()) === 0, 'the closed streams were unsubscribed')
})

async function freshTenant(scopes: Scope[] = ['status:read', 'status:write']) {
  const name = freshTenantName('sse-tenant')
  const { secret: key } = await server.services.apiKeys.create(name, scopes)
  let statusCounter = 0
  const send = async (method: string, route: string, body: unknown) => {
    const res = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(res.status).toBeLessThan(300)
    return (await res.json()) as StatusJson
  }
  return {
    name,
    key,
    create: () => {
      statusCounter += 1
      return send('POST', '/api/status', { status_id: `${name}-job-${statusCounter}` })
    },
    update: (id: string, body: Record<string, unknown>) => send('PUT', `/api/status/${id}`, body),
    head: () => createEventRepository(db).head(name),
  }
}

/** Opens the stream (of this file's server unless `port`); closed after the test. */
async function openStream(
  options: { key?: string; query?: string; headers?: Record<string, string>; port?: number } = {},
): Promise<Stream> {
  const stream = await openEventStream(options.port ?? server.port, options)
  streams.push(stream)
  return stream
}

const subscribers = async () => (await server.services.eventManager.stats()).subscribers

describe('GET /api/events/stream', () => {
  test('when since_seq is given, then the events after it are replayed, then live events follow, each with id = seq', async () => {
    const tenant = await freshTenant()
    const status = await tenant.create()
    await tenant.update(status.status_id, { progress_percentage: 10 })
    await tenant.update(status.status_id, { progress_percentage: 20 })

    const stream = await openStream({ key: tenant.key, query: '?since_seq=1' })
    expect(stream.status).toBe(200)
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/)
    expect(stream.headers['cache-control']).toContain('no-cache')
    await until(async () => stream.events().length === 2, 'the replay arrived')
    await tenant.update(status.status_id, { new_status: 'processing' })
    await until(async () => stream.events().length === 3, 'the live event arrived')

    expect(stream.frames[0]).toMatchObject({ retry: '2000', comments: ['subscribed at seq 3'] })
    const eventFrames = stream.frames.filter((f) => f.event === 'status.event')
    expect(eventFrames.map((f) => f.id)).toEqual(['2', '3', '4'])
    expect(stream.events().map((e) => [e.seq, e.type, e.status_id])).toEqual([
      [2, 'status.progress', status.status_id],
      [3, 'status.progress', status.status_id],
      [4, 'status.updated', status.status_id],
    ])
    expect(stream.events()[2]).toMatchObject({
      event_id: expect.any(String),
      version: 4,
      changes: { status: ['pending', 'processing'] },
      status: { status: 'processing' },
    })
  })

  test('when Last-Event-ID is sent with since_seq, then Last-Event-ID wins', async () => {
    const tenant = await freshTenant()
    for (let n = 0; n < 4; n++) await tenant.create()

    const stream = await openStream({
      key: tenant.key,
      query: '?since_seq=0',
      headers: { 'Last-Event-ID': '3' },
    })
    await until(async () => stream.events().length === 1, 'the replay arrived')
    await sleep(50)

    expect(stream.events().map((e) => e.seq)).toEqual([4])
  })

  test('when Last-Event-ID is not a number, then it is ignored and since_seq applies', async () => {
    const tenant = await freshTenant()
    for (let n = 0; n < 3; n++) await tenant.create()

    const stream = await openStream({
      key: tenant.key,
      query: '?since_seq=1',
      headers: { 'Last-Event-ID': 'not-a-seq' },
    })
    await until(async () => stream.events().length === 2, 'the replay arrived')
    expect(stream.events().map((e) => e.seq)).toEqual([2, 3])
  })

  test('when neither since_seq nor Last-Event-ID is given, then only events from now on are sent', async () => {
    const tenant = await freshTenant()
    const status = await tenant.create()

    const stream = await openStream({ key: tenant.key })
    await until(async () => stream.frames.length >= 1, 'the stream opened')
    await tenant.update(status.status_id, { message: 'live' })
    await until(async () => stream.events().length === 1, 'the live event arrived')

    expect(stream.frames[0]!.comments).toEqual(['subscribed at seq 1'])
    expect(stream.events().map((e) => e.seq)).toEqual([2])
  })

  test('when another tenant writes, then the stream carries none of it', async () => {
    const mine = await freshTenant()
    const theirs = await freshTenant()
    const own = await mine.create()
    const stream = await openStream({ key: mine.key, query: '?since_seq=0' })

    const other = await theirs.create()
    await theirs.update(other.status_id, { message: 'secret' })
    await mine.update(own.status_id, { message: 'mine' })
    await until(async () => stream.events().length >= 2, 'my events arrived')
    await sleep(50)

    expect(stream.events().map((e) => [e.seq, e.status_id])).toEqual([
      [1, own.status_id],
      [2, own.status_id],
    ])
  })

  test('when the client goes away, then its subscription is closed', async () => {
    const tenant = await freshTenant()
    const before = await await subscribers()
    const stream = await openStream({ key: tenant.key })
    await until(async () => stream.frames.length >= 1, 'the stream opened')
    expect(await await subscribers()).toBe(before + 1)

    stream.close()
    await until(async () => (await subscribers()) === before, 'the subscription was closed')
  })
})

describe('resync', () => {
  test('when the events after since_seq were purged, then a status.resync event is sent and the stream ends', async () => {
    const tenant = await freshTenant()
    for (let n = 0; n < 4; n++) await tenant.create()
    await db.write(
      (tx) => tx.$executeRaw`DELETE FROM status_events WHERE tenant_id = ${tenant.name} AND seq <= 2`,
    )

    const stream = await openStream({ key: tenant.key, query: '?since_seq=1' })
    await until(async () => stream.ended(), 'the stream ended')

    expect(stream.status).toBe(200)
    expect(stream.frames).toEqual([
      { event: 'status.resync', data: JSON.stringify({ since_seq: 1, seq: 4 }), comments: [] },
    ])
  })

  test('when since_seq is beyond the head, then a status.resync event is sent and the stream ends', async () => {
    const tenant = await freshTenant()
    await tenant.create()

    const stream = await openStream({ key: tenant.key, query: '?since_seq=5' })
    await until(async () => stream.ended(), 'the stream ended')

    expect(stream.frames).toEqual([
      { event: 'status.resync', data: JSON.stringify({ since_seq: 5, seq: 1 }), comments: [] },
    ])
  })
})

describe('errors', () => {
  async function problemOf(stream: Stream) {
    await until(async () => stream.ended(), 'the response ended')
    expect(stream.headers['content-type']).toMatch(/^application\/problem\+json/)
    return JSON.parse(stream.body()) as { code: string; status: number; errors?: { path: string }[] }
  }

  test('when no key is given, then 401 unauthenticated', async () => {
    const stream = await openStream({ query: '?since_seq=0' })
    expect(stream.status).toBe(401)
    expect(await problemOf(stream)).toMatchObject({ code: 'unauthenticated', status: 401 })
  })

  test('when the key lacks status:read, then 403', async () => {
    const writer = await freshTenant(['status:write'])
    const stream = await openStream({ key: writer.key })
    expect(stream.status).toBe(403)
    expect(await problemOf(stream)).toMatchObject({ code: 'insufficient-scope' })
  })

  test.each([['abc'], ['-1'], ['1.5']])('when since_seq is %s, then 400 validation-failed', async (value) => {
    const tenant = await freshTenant()
    const stream = await openStream({ key: tenant.key, query: `?since_seq=${value}` })
    expect(stream.status).toBe(400)
    const problem = await problemOf(stream)
    expect(problem).toMatchObject({ code: 'validation-failed' })
    expect(problem.errors!.map((e) => e.path)).toContain('since_seq')
  })

  test('when an unknown query parameter is given, then 400 validation-failed', async () => {
    const tenant = await freshTenant()
    const stream = await openStream({ key: tenant.key, query: '?after_seq=1' })
    expect(stream.status).toBe(400)
    expect(await problemOf(stream)).toMatchObject({ code: 'validation-failed' })
  })
})

describe('the stream on its own app', () => {
  /** sseRoutes behind the real auth middleware, with knobs the server's config does not expose. */
  async function listenWith(options: { heartbeatMs?: number; maxBufferedBytes?: number }) {
    const app = express()
    app.use(
      '/api',
      authenticate(server.services),
      sseRoutes({
        eventManager: server.services.eventManager,
        statuses: server.services.statuses,
        ...options,
      }),
    )
    app.use(errorHandler)
    const listening = await listenOnLoopback(http.createServer(app))
    servers.push(listening)
    return listening.port
  }

  test('when the stream is idle, then heartbeat comments keep it open', async () => {
    const port = await listenWith({ heartbeatMs: 50 })
    const tenant = await freshTenant()

    const stream = await openStream({ key: tenant.key, port })
    await until(
      () => stream.frames.filter((f) => f.comments.includes('ping')).length >= 3,
      'three heartbeats arrived',
    )

    expect(stream.ended()).toBe(false)
    expect(stream.events()).toHaveLength(0)
  })

  test('when a client stops reading, then it is sent status.overflow and the stream ends', async () => {
    const port = await listenWith({ maxBufferedBytes: 64 * 1024 })
    const tenant = await freshTenant()
    const ids: string[] = []
    for (let n = 0; n < 200; n++) ids.push((await tenant.create()).status_id)
    const stream = await openStream({ key: tenant.key, port })
    await until(async () => stream.frames.length >= 1, 'the stream opened')
    const before = await await subscribers()
    stream.response.pause()

    for (let round = 0; (await subscribers()) === before; round++) {
      if (round >= 500) throw new Error('the slow client was never dropped')
      const { accepted } = await server.services.updater.submit(
        tenant.name,
        ids.map((id) => ({ status_id: id, message: `round ${round}` })),
      )
      await Promise.all(accepted.map((item) => item.result))
    }
    stream.response.resume()
    await until(async () => stream.ended(), 'the stream ended')

    expect(stream.frames.at(-1)).toMatchObject({
      event: 'status.overflow',
      data: JSON.stringify({ reason: 'slow-consumer' }),
    })
    // What it did get is a gap-free prefix of the feed.
    const seqs = stream.events().map((e) => e.seq)
    expect(seqs).toEqual(range(201, 200 + seqs.length))
    expect(seqs.at(-1)!).toBeLessThan(await tenant.head())
  })
})
