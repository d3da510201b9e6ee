import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { io, type Socket as ClientSocket } from 'socket.io-client'
import { loadConfig } from '../../src/config'
import { createEventRepository } from '../../src/db/event-repository'
import { openDatabase, type Database } from '../../src/db/prisma'
import { startServer } from '../../src/server'
import { createServices } from '../../src/services'
import type { Scope } from '../../src/services/api-key-service'
import type { EventJson, StatusJson } from '../helpers/status-api'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'
import { sleep, range, until } from '../helpers/wait'
import { freshTenantName } from '../helpers/tenants'

jest.setTimeout(120_000)

type Server = Awaited<ReturnType<typeof startServer>>

let dir: string
let server: Server
let baseUrl: string
/** A second connection to the server's database file, to purge events as retention would. */
let db: Database

const configFor = (databaseUrl: string) =>
  loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' })

/** A key up front, so startServer finds a non-empty database and prints no bootstrap key. */
async function seedDatabase(url: string) {
  const seeding = await openDatabase({ url })
  await (await createServices({ db: seeding })).apiKeys.create('default', ['admin'])
  await seeding.close()
}

let store: TestDatabase
beforeAll(async () => {
  // The shared server's database is the store under test; the stop() test below uses a file of its own.
  dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-socket-'))
  store = await createTestDatabase('socket')
  const url = store.url
  await seedDatabase(url)
  server = await startServer(configFor(url))
  baseUrl = `http://127.0.0.1:${server.port}`
  db = await openDatabase({ url })
})

afterAll(async () => {
  await server?.stop()
  await db?.close()
  await store?.drop()
  rmSync(dir, { recursive: true, force: true })
})

const clients: ClientSocket[] = []
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})

// ---------------------------------------------------------------- helpers

/** A tenant of its own with a read/write key, and HTTP writers for it. */
async function freshTenant(scopes: Scope[] = ['status:read', 'status:write']) {
  const name = freshTenantName('socket-tenant')
  const { secret: key } = await server.services.apiKeys.create(name, scopes)
  const call = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as unknown }
  }
  let statusCounter = 0
  const tenant = {
    name,
    key,
    async create(body: Record<string, unknown> = {}): Promise<StatusJson> {
      statusCounter += 1
      const res = await call('POST', '/api/status', { status_id: `${name}-job-${statusCounter}`, ...body })
      expect(res).toMatchObject({ status: 201 })
      return res.body as StatusJson
    },
    async update(id: string, body: Record<string, unknown>): Promise<StatusJson> {
      const res = await call('PUT', `/api/status/${id}`, body)
      expect(res).toMatchObject({ status: 200 })
      return res.body as StatusJson
    },
    /** The tenant's last `seq`, read from the store. */
    head: () => createEventRepository(db).head(name),
    /** `rounds` committed batches through the batched updater, one event per status each. */
    async bulk(ids: string[], rounds: number, offset = 0) {
      for (let round = 0; round < rounds; round++) {
        const { accepted } = await server.services.updater.submit(
          name,
          ids.map((id) => ({ status_id: id, message: `round ${offset + round}` })),
        )
        await Promise.all(accepted.map((item) => item.result))
      }
    },
  }
  return tenant
}

type Tenant = Awaited<ReturnType<typeof freshTenant>>

/** A socket.io client of `/status`; closed after the test. */
function client(token?: string, options: Record<string, unknown> = {}): ClientSocket {
  const socket = io(`${baseUrl}/status`, {
    transports: ['websocket'],
    auth: token === undefined ? {} : { token },
    reconnection: false,
    forceNew: true,
    ...options,
  })
  clients.push(socket)
  return socket
}

async function connected(token: string, options: Record<string, unknown> = {}): Promise<ClientSocket> {
  const socket = client(token, options)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  return socket
}

const refusal = (socket: ClientSocket) =>
  new Promise<Error & { data?: unknown }>((resolve) => socket.once('connect_error', resolve))

/** Everything `status.event` brings to this socket, in arrival order (once per socket, however many of its subscriptions match). */
function record(socket: ClientSocket) {
  const received: EventJson[] = []
  socket.on('status.event', (event: EventJson) => received.push(event))
  return { received, seqs: () => received.map((event) => event.seq) }
}

interface Ack {
  ok: boolean
  subscription_id?: string
  seq?: number
  snapshot?: StatusJson[]
  replayed?: number
  error?: { code: string; message: string; errors?: { path: string; message: string }[] }
}

const subscribe = (socket: ClientSocket, payload: unknown): Promise<Ack> =>
  socket.timeout(20_000).emitWithAck('subscribe', payload)

const subscribers = async () => (await server.services.eventManager.stats()).subscribers

// ---------------------------------------------------------------- tests

describe('handshake', () => {
  test('when no key is given, then the connection is refused with unauthenticated', async () => {
    const socket = client()
    const err = await refusal(socket)
    expect(err.data).toMatchObject({ code: 'unauthenticated', message: expect.any(String) })
    expect(socket.connected).toBe(false)
  })

  test('when a wrong key is given, then the connection is refused with unauthenticated', async () => {
    const err = await refusal(client('st_not-a-real-key'))
    expect(err.data).toMatchObject({ code: 'unauthenticated' })
  })

  test('when the token is not a string, then the connection is refused with unauthenticated', async () => {
    const socket = io(`${baseUrl}/status`, {
      transports: ['websocket'],
      auth: { token: 42 },
      reconnection: false,
      forceNew: true,
    })
    clients.push(socket)
    expect((await refusal(socket)).data).toMatchObject({ code: 'unauthenticated' })
  })

  test('when the key lacks status:read, then the connection is refused with insufficient-scope', async () => {
    const writer = await freshTenant(['status:write'])
    const err = await refusal(client(writer.key))
    expect(err.data).toMatchObject({ code: 'insufficient-scope' })
  })

  test('when a revoked key is given, then the connection is refused', async () => {
    const tenant = await freshTenant()
    const { key, secret } = await server.services.apiKeys.create(tenant.name, ['status:read'])
    await server.services.apiKeys.revoke(key.id)
    expect((await refusal(client(secret))).data).toMatchObject({ code: 'unauthenticated' })
  })

  test('when the key comes in an X-API-Key header instead of auth, then the connection is accepted', async () => {
    const tenant = await freshTenant()
    const socket = client(undefined, { extraHeaders: { 'x-api-key': tenant.key } })
    await new Promise<void>((resolve, reject) =>
      socket.once('connect', resolve).once('connect_error', reject),
    )
    expect(socket.connected).toBe(true)
  })
})

describe('subscribe by status_ids', () => {
  test('when subscribing by ids, then the ack carries a snapshot of those records at seq, and later events for them follow in seq order', async () => {
    const tenant = await freshTenant()
    const a = await tenant.create({ status: 'processing' })
    const b = await tenant.create()
    const other = await tenant.create()
    const socket = await connected(tenant.key)
    const events = record(socket)

    const ack = await subscribe(socket, { status_ids: [a.status_id, b.status_id, 'no-such-status'] })

    expect(ack).toMatchObject({ ok: true, subscription_id: expect.any(String), seq: 3, replayed: 0 })
    expect(ack.snapshot).toEqual([
      expect.objectContaining({ status_id: a.status_id, status: 'processing', version: 1 }),
      expect.objectContaining({ status_id: b.status_id, status: 'pending', version: 1 }),
    ])

    await tenant.update(other.status_id, { message: 'not subscribed' })
    await tenant.update(a.status_id, { progress_percentage: 40 })
    await tenant.update(b.status_id, { new_status: 'processing' })
    await tenant.update(a.status_id, { new_status: 'completed' })
    await until(async () => events.received.length >= 3, 'three events arrived')

    expect(events.received.map((e) => [e.seq, e.status_id, e.type])).toEqual([
      [5, a.status_id, 'status.progress'],
      [6, b.status_id, 'status.updated'],
      [7, a.status_id, 'status.updated'],
    ])
    const completed = events.received[2]!
    expect(completed).toMatchObject({
      event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      version: 3,
      changes: { status: ['processing', 'completed'] },
      status: { status_id: a.status_id, status: 'completed', progress_percentage: 100 },
    })
  })

  test('when 50 updates arrive concurrently over HTTP, then a firehose subscriber gets every event once, seq strictly increasing with no gap', async () => {
    const tenant = await freshTenant()
    const ids: string[] = []
    for (let n = 0; n < 50; n++) ids.push((await tenant.create({ status: 'processing' })).status_id)
    const socket = await connected(tenant.key)
    const events = record(socket)
    const ack = await subscribe(socket, {})
    expect(ack).toMatchObject({ ok: true, seq: 50 })
    expect(ack.snapshot).toHaveLength(50)

    await Promise.all(ids.map((id, n) => tenant.update(id, { progress_percentage: n + 1 })))
    await until(async () => events.received.length >= 50, 'all 50 events arrived')
    // A later event: the socket delivers in seq order, so a repeat of any of the 50 would come before it.
    await tenant.update(ids[0]!, { progress_percentage: 99 })
    await until(async () => events.seqs().includes(101), 'the sentinel event arrived')

    expect(events.seqs()).toEqual(range(51, 101))
    expect(new Set(events.received.map((e) => e.status_id))).toEqual(new Set(ids))
  })

  test('when subscribing without an ack callback, then the subscription still delivers', async () => {
    const tenant = await freshTenant()
    const status = await tenant.create()
    const socket = await connected(tenant.key)
    const events = record(socket)
    socket.emit('subscribe', { status_ids: [status.status_id] })
    // Packets are handled in order: once a later subscribe is acknowledged, the first one is registered.
    await subscribe(socket, { status_ids: ['unrelated'] })

    await tenant.update(status.status_id, { message: 'hello' })
    await until(async () => events.received.length === 1, 'the event arrived')
    expect(events.seqs()).toEqual([2])
  })
})

describe('subscribe by filter', () => {
  test('when subscribing by filter, then the snapshot is the first page of matching statuses, newest first', async () => {
    const tenant = await freshTenant()
    const processing: StatusJson[] = []
    for (let n = 0; n < 3; n++) processing.push(await tenant.create({ status: 'processing' }))
    await tenant.create({ status: 'pending' })
    const socket = await connected(tenant.key)

    const ack = await subscribe(socket, { filter: { status: ['processing'] }, snapshot_limit: 2 })

    const newestFirst = [...processing].sort(
      (x, y) => y.updated_at.localeCompare(x.updated_at) || y.status_id.localeCompare(x.status_id),
    )
    expect(ack).toMatchObject({ ok: true, seq: 4 })
    expect(ack.snapshot!.map((s) => s.status_id)).toEqual(newestFirst.slice(0, 2).map((s) => s.status_id))
  })

  test('when a status finishes while subscribed, then its event is delivered although it leaves the filter, and statuses never in it are not', async () => {
    const tenant = await freshTenant()
    const job = await tenant.create({ status: 'processing', priority: 'high', kind: 'video.transcode' })
    const elsewhere = await tenant.create({ status: 'pending', priority: 'high', kind: 'video.transcode' })
    const lowly = await tenant.create({ status: 'processing', priority: 'low', kind: 'video.transcode' })
    const socket = await connected(tenant.key)
    const events = record(socket)
    const ack = await subscribe(socket, {
      filter: { status: ['processing'], priority: ['high'], kind: 'video.transcode' },
    })
    expect(ack.snapshot!.map((s) => s.status_id)).toEqual([job.status_id])

    await tenant.update(elsewhere.status_id, { new_status: 'starting' })
    await tenant.update(lowly.status_id, { new_status: 'completed' })
    await tenant.update(job.status_id, { new_status: 'completed' })
    // Delivered in seq order: the two earlier updates' events, had they matched, would already be here.
    await until(async () => events.seqs().includes(6), 'the completion arrived')

    expect(events.received).toEqual([
      expect.objectContaining({
        seq: 6,
        status_id: job.status_id,
        changes: expect.objectContaining({ status: ['processing', 'completed'] }),
        status: expect.objectContaining({ status: 'completed' }),
      }),
    ])
  })
})

describe('since_seq replay', () => {
  test('when subscribing with since_seq, then the events after it are replayed then live ones follow', async () => {
    const tenant = await freshTenant()
    const status = await tenant.create()
    for (let n = 1; n <= 4; n++) await tenant.update(status.status_id, { progress_percentage: n * 10 })
    const socket = await connected(tenant.key)
    const events = record(socket)

    const ack = await subscribe(socket, { since_seq: 2 })
    expect(ack).toMatchObject({ ok: true, seq: 5, replayed: 3 })
    expect(ack.snapshot).toBeUndefined()
    await tenant.update(status.status_id, { progress_percentage: 90 })

    await until(async () => events.received.length >= 4, 'the replay and the live event arrived')
    expect(events.seqs()).toEqual([3, 4, 5, 6])
  })

  test('when a client reconnects 100 times with since_seq = last seen while a writer keeps writing, then it sees every event 1..N exactly once', async () => {
    const tenant = await freshTenant()
    const ids: string[] = []
    for (let n = 0; n < 3; n++) ids.push((await tenant.create()).status_id)
    let writing = true
    let written = 0
    const writer = (async () => {
      while (writing) {
        written += 1
        await tenant.update(ids[written % ids.length]!, { message: `update ${written}` })
      }
    })()

    const seen: number[] = []
    let last = 0
    const follow = async (stay?: (seenBefore: number) => Promise<void>) => {
      const socket = await connected(tenant.key)
      socket.on('status.event', (event: EventJson) => {
        seen.push(event.seq)
        last = event.seq
      })
      const ack = await subscribe(socket, { since_seq: last })
      expect(ack).toMatchObject({ ok: true })
      await stay?.(seen.length)
      return socket
    }
    try {
      for (let cycle = 0; cycle < 100; cycle++) {
        const socket = await follow(async (seenBefore) => {
          // Leave at varying moments: right after the ack, after an event, or a little later.
          if (cycle % 4 === 1) await waitUntil(() => seen.length > seenBefore)
          else if (cycle % 4 === 2) await sleep(3)
          else if (cycle % 4 === 3) await sleep(15)
        })
        socket.disconnect()
      }
    } finally {
      writing = false
      await writer
    }

    const head = await tenant.head()
    expect(head).toBe(3 + written)
    const final = await follow()
    await until(async () => last === head, `the last subscription caught up to seq ${head}`)
    final.disconnect()
    expect(seen).toEqual(range(1, head))
    expect(written).toBeGreaterThan(100)
  })
})

/** Like `until`, without failing the test: a connection that saw nothing simply leaves. */
async function waitUntil(check: () => boolean, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs
  while (!check() && Date.now() < deadline) await sleep(2)
}

describe('tenant isolation', () => {
  test('when tenant B subscribes to everything and to tenant A’s ids, then it sees nothing of tenant A', async () => {
    const a = await freshTenant()
    const b = await freshTenant()
    const secret = await a.create({ status: 'processing' })
    const own = await b.create({ status: 'processing' })
    const socket = await connected(b.key)
    const events = record(socket)

    const byIds = await subscribe(socket, { status_ids: [secret.status_id, own.status_id] })
    const firehose = await subscribe(socket, {})
    const replay = await subscribe(socket, { since_seq: 0 })
    expect(byIds.snapshot!.map((s) => s.status_id)).toEqual([own.status_id])
    expect(firehose.snapshot!.map((s) => s.status_id)).toEqual([own.status_id])
    expect(replay).toMatchObject({ ok: true, replayed: 1 })

    // Tenant A watches its own status: once A's socket has its two events, the hub has handed them to
    // every socket it was going to; B's later event then comes after any of them on B's socket.
    const watcher = await connected(a.key)
    const aEvents = record(watcher)
    await subscribe(watcher, { status_ids: [secret.status_id] })
    await a.update(secret.status_id, { progress_percentage: 50 })
    await a.update(secret.status_id, { new_status: 'completed' })
    await until(async () => aEvents.received.length >= 2, 'tenant A’s own events arrived')
    await b.update(own.status_id, { progress_percentage: 10 })
    // B's own events: the replayed creation, then its update (once, though three subscriptions match it).
    await until(async () => events.seqs().includes(2), 'tenant B’s own update arrived')

    expect(events.received.map((e) => [e.seq, e.status_id])).toEqual([
      [1, own.status_id],
      [2, own.status_id],
    ])
  })
})

describe('unsubscribe', () => {
  test('when a subscription is unsubscribed, then its events stop while the others on the socket continue', async () => {
    const tenant = await freshTenant()
    const left = await tenant.create()
    const kept = await tenant.create()
    const socket = await connected(tenant.key)
    const events = record(socket)
    const leaving = await subscribe(socket, { status_ids: [left.status_id] })
    await subscribe(socket, { status_ids: [kept.status_id] })
    await tenant.update(left.status_id, { progress_percentage: 10 })
    await until(async () => events.received.length === 1, 'the first event arrived')

    const answer = await socket.timeout(10_000).emitWithAck('unsubscribe', {
      subscription_id: leaving.subscription_id,
    })
    expect(answer).toEqual({ ok: true })
    await tenant.update(left.status_id, { progress_percentage: 20 })
    await tenant.update(kept.status_id, { progress_percentage: 20 })
    // Seq 5 comes after the unsubscribed status's seq 4 on the same socket, so that one would be here.
    await until(async () => events.seqs().includes(5), 'the kept subscription’s event arrived')

    expect(events.received.map((e) => [e.seq, e.status_id])).toEqual([
      [3, left.status_id],
      [5, kept.status_id],
    ])
    expect(
      await socket.timeout(10_000).emitWithAck('unsubscribe', { subscription_id: leaving.subscription_id }),
    ).toMatchObject({ ok: false, error: { code: 'subscription-not-found' } })
  })

  test('when unsubscribing an unknown or malformed subscription, then the ack says why', async () => {
    const tenant = await freshTenant()
    const socket = await connected(tenant.key)

    expect(
      await socket.timeout(10_000).emitWithAck('unsubscribe', { subscription_id: 'nope' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'subscription-not-found' },
    })
    expect(await socket.timeout(10_000).emitWithAck('unsubscribe', {})).toMatchObject({
      ok: false,
      error: { code: 'validation-failed', errors: [expect.objectContaining({ path: 'subscription_id' })] },
    })
  })

  test('when a client disconnects, then its subscriptions are closed on the server', async () => {
    const tenant = await freshTenant()
    const before = await await subscribers()
    const socket = await connected(tenant.key)
    await subscribe(socket, {})
    await subscribe(socket, { since_seq: 0 })
    expect(await await subscribers()).toBe(before + 2)

    socket.disconnect()
    await until(async () => (await subscribers()) === before, 'the subscriptions were closed')
  })
})

describe('invalid subscribe payloads', () => {
  test.each([
    ['status_ids is not an array', { status_ids: 'job-1' }, 'status_ids'],
    ['status_ids is empty', { status_ids: [] }, 'status_ids'],
    ['a status id has a space', { status_ids: ['job 1'] }, 'status_ids.0'],
    ['an unknown status in the filter', { filter: { status: ['invalid_status'] } }, 'filter.status.0'],
    ['an unknown filter field', { filter: { colour: 'red' } }, 'filter'],
    ['the filter kind holds a NUL', { filter: { kind: 'video\u0000' } }, 'filter.kind'],
    ['a negative since_seq', { since_seq: -1 }, 'since_seq'],
    ['a fractional since_seq', { since_seq: 1.5 }, 'since_seq'],
    ['a snapshot_limit over 500', { snapshot_limit: 501 }, 'snapshot_limit'],
    ['an unknown field', { everything: true }, ''],
    ['not an object', 'subscribe me', ''],
  ])('when %s, then the ack is ok:false validation-failed', async (_name, payload, errorPath) => {
    const tenant = await freshTenant()
    const socket = await connected(tenant.key)
    const before = await await subscribers()

    const ack = await subscribe(socket, payload)

    expect(ack).toMatchObject({
      ok: false,
      error: { code: 'validation-failed', message: expect.any(String) },
    })
    expect(ack.error!.errors!.map((e) => e.path)).toContain(errorPath)
    expect(await await subscribers()).toBe(before)
  })

  test('when a socket already holds 100 subscriptions, then another is refused with too-many-subscriptions', async () => {
    const tenant = await freshTenant()
    const socket = await connected(tenant.key)
    for (let n = 0; n < 100; n++) {
      expect(await subscribe(socket, { status_ids: [`job-${n}`] })).toMatchObject({ ok: true })
    }
    expect(await subscribe(socket, { status_ids: ['one-too-many'] })).toMatchObject({
      ok: false,
      error: { code: 'too-many-subscriptions' },
    })
  })
})

describe('resync', () => {
  async function expectResync(tenant: Tenant, sinceSeq: number, head: number) {
    const socket = await connected(tenant.key)
    const resync = new Promise<unknown>((resolve) => socket.once('status.resync', resolve))
    const before = await await subscribers()

    const ack = await subscribe(socket, { since_seq: sinceSeq })

    expect(ack).toMatchObject({ ok: false, error: { code: 'resync-required' }, seq: head })
    expect(await resync).toMatchObject({ since_seq: sinceSeq, seq: head, reason: expect.any(String) })
    expect(await await subscribers()).toBe(before)
  }

  test('when since_seq is beyond the head, then status.resync is emitted and the ack says resync-required', async () => {
    const tenant = await freshTenant()
    await tenant.create()
    await tenant.create()
    await expectResync(tenant, 3, 2)
  })

  test('when the events after since_seq were deleted, then status.resync is emitted and the ack says resync-required', async () => {
    const tenant = await freshTenant()
    for (let n = 0; n < 4; n++) await tenant.create()
    await db.write(
      (tx) => tx.$executeRaw`DELETE FROM status_events WHERE tenant_id = ${tenant.name} AND seq <= 2`,
    )
    await expectResync(tenant, 1, 4)

    // A client that had seen seq 2 lost nothing and is replayed.
    const socket = await connected(tenant.key)
    expect(await subscribe(socket, { since_seq: 2 })).toMatchObject({ ok: true, seq: 4, replayed: 2 })
  })
})

describe('slow consumers', () => {
  test('when a client stops reading, then it gets status.overflow and is disconnected while a fast client of the same tenant receives every event', async () => {
    const tenant = await freshTenant()
    const ids: string[] = []
    for (let n = 0; n < 500; n++) ids.push((await tenant.create()).status_id)
    const fast = await connected(tenant.key)
    const slow = await connected(tenant.key)
    const fastEvents = record(fast)
    const fastAck = await subscribe(fast, {})
    const slowAck = await subscribe(slow, {})
    const overflow = new Promise<unknown>((resolve) => slow.once('status.overflow', resolve))
    const disconnected = new Promise<string>((resolve) => slow.once('disconnect', resolve))
    const before = await await subscribers()

    // The slow client's TCP socket stops reading: the server's buffers for it fill up.
    const tcp = (slow.io.engine.transport as unknown as { ws: { _socket: NodeJS.ReadableStream } }).ws._socket
    tcp.pause()
    // Each round waits for the fast client to read it, so the fast client is never more than one
    // round (500 packets, a tenth of the limit) behind however loaded the machine is, while the slow
    // one falls a round further behind each time.
    const fastCaughtUp = async (round: number) => {
      const head = await tenant.head()
      await until(async () => fastEvents.received.at(-1)?.seq === head, `the fast client read round ${round}`)
    }
    let rounds = 0
    while ((await subscribers()) === before) {
      if (rounds >= 200) throw new Error('the slow client was never disconnected')
      await tenant.bulk(ids, 1, rounds)
      await fastCaughtUp(rounds)
      rounds += 1
    }
    // One more round after the slow one is gone: the fast one keeps receiving.
    await tenant.bulk(ids, 1, rounds)
    const head = await tenant.head()
    await until(async () => fastEvents.received.at(-1)?.seq === head, 'the fast client got every event')

    expect(head).toBe(500 + 500 * (rounds + 1))
    expect(fastEvents.seqs()).toEqual(range(fastAck.seq! + 1, head))
    expect(fast.connected).toBe(true)

    // Once it reads again it finds the overflow notice, then the server's disconnect.
    tcp.resume()
    expect(await overflow).toEqual({ subscription_id: slowAck.subscription_id, reason: 'slow-consumer' })
    expect(await disconnected).toBe('io server disconnect')
  })

  test('when a client reconnects far behind but within the replay window, then the whole replay arrives', async () => {
    const tenant = await freshTenant()
    const ids: string[] = []
    for (let n = 0; n < 500; n++) ids.push((await tenant.create()).status_id)
    // 8,000 events: within the 10,000 events a subscriber may be replayed.
    await tenant.bulk(ids, 15)
    const head = await tenant.head()
    expect(head).toBe(8000)
    const socket = await connected(tenant.key)
    const events = record(socket)
    let overflowed = false
    socket.on('status.overflow', () => (overflowed = true))

    const ack = await subscribe(socket, { since_seq: 0 })

    expect(ack).toMatchObject({ ok: true, seq: head, replayed: head })
    await until(
      async () => events.received.length === head || overflowed || !socket.connected,
      'the replay ended',
    )
    expect(overflowed).toBe(false)
    expect(events.seqs()).toEqual(range(1, head))
  })
})

describe('stop()', () => {
  test('when the server stops, then realtime clients are disconnected and stop() can be called again', async () => {
    const url = `file:${path.join(dir, 'stop.db')}`
    await seedDatabase(url)
    const own = await startServer(configFor(url))
    const { secret } = await own.services.apiKeys.create('default', ['status:read'])
    const socket = io(`http://127.0.0.1:${own.port}/status`, {
      transports: ['websocket'],
      auth: { token: secret },
      reconnection: false,
      forceNew: true,
    })
    clients.push(socket)
    await new Promise<void>((resolve, reject) =>
      socket.once('connect', resolve).once('connect_error', reject),
    )
    expect(await subscribe(socket, {})).toMatchObject({ ok: true })
    const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve))

    await Promise.all([own.stop(), own.stop()])
    await own.stop()

    expect(await disconnected).toMatch(/io server disconnect|transport close/)
    const late = io(`http://127.0.0.1:${own.port}/status`, {
      transports: ['websocket'],
      auth: { token: secret },
      reconnection: false,
      forceNew: true,
    })
    clients.push(late)
    await expect(
      new Promise<void>((resolve, reject) => late.once('connect', resolve).once('connect_error', reject)),
    ).rejects.toThrow()
  })
})
