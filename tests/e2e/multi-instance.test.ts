// Two server processes on one database, SQLite and (when its server binaries are installed) PostgreSQL:
// what a client of either sees must be what one instance gives.
import {
  createDatabase,
  havePostgresBinaries,
  startPostgresServer,
  stopPostgresServer,
} from '../helpers/postgres-server'
import { io, type Socket as ClientSocket } from 'socket.io-client'
import {
  killAllProcesses,
  startServerProcess,
  tempDatabase,
  type ServerProcess,
} from '../helpers/server-process'
import { startReceiver, type Receiver } from '../helpers/webhook-receiver'
import type { EventJson } from '../helpers/status-api'
import { range, until } from '../helpers/wait'

jest.setTimeout(120_000)

const databases: ReturnType<typeof tempDatabase>[] = []
const clients: ClientSocket[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect()
  await killAllProcesses()
})
const receivers: Receiver[] = []
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()))
})

/** A throw-away PostgreSQL server for this file. */
let postgres: { url: string } | undefined
beforeAll(() => {
  if (havePostgresBinaries) postgres = { url: startPostgresServer() }
})
afterAll(() => {
  databases.forEach((database) => database.cleanup())
  if (postgres) stopPostgresServer(postgres.url)
})

type Store = 'sqlite' | 'postgresql'

/** A fresh, empty database of `store`. */
async function freshDatabase(store: Store): Promise<string> {
  if (store === 'sqlite') {
    const database = tempDatabase()
    databases.push(database)
    return database.url
  }
  return (await createDatabase(postgres!.url, 'multi')).url
}

/** Two instances on one fresh database, and the admin key the first one created. */
async function twoInstances(
  store: Store,
  env: Record<string, string> = {},
): Promise<{ a: ServerProcess; b: ServerProcess; key: string }> {
  const url = await freshDatabase(store)
  const a = await startServerProcess({ DATABASE_URL: url, ...env })
  const b = await startServerProcess({ DATABASE_URL: url, ...env })
  return { a, b, key: a.adminKey! }
}

const call = (server: ServerProcess, key: string, method: string, route: string, body?: unknown) =>
  fetch(`${server.baseUrl}${route}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })

async function subscriber(server: ServerProcess, key: string, payload: unknown) {
  const socket = io(`${server.baseUrl}/status`, {
    transports: ['websocket'],
    auth: { token: key },
    reconnection: false,
    forceNew: true,
  })
  clients.push(socket)
  const events: EventJson[] = []
  socket.on('status.event', (event: EventJson) => events.push(event))
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject))
  const ack = (await socket.timeout(20_000).emitWithAck('subscribe', payload)) as { ok: boolean; seq: number }
  expect(ack.ok).toBe(true)
  return { events, ack }
}

/** Every event of the tenant through `server`'s REST feed, in seq order. */
async function feed(server: ServerProcess, key: string): Promise<EventJson[]> {
  const all: EventJson[] = []
  let after = 0
  for (;;) {
    const res = await call(server, key, 'GET', `/api/events?after_seq=${after}&limit=1000`)
    expect(res.status).toBe(200)
    const page = (await res.json()) as { items: EventJson[]; next_after_seq: number; has_more: boolean }
    all.push(...page.items)
    after = page.next_after_seq
    if (!page.has_more) return all
  }
}

const STORES: Store[] = havePostgresBinaries ? ['sqlite', 'postgresql'] : ['sqlite']

describe.each(STORES)('two instances on %s', (store) => {
  // Instances on one SQLite file keep their own rate-limit counts (docs/api.md); on PostgreSQL they share them.
  const onPostgres = store === 'postgresql' ? test : test.skip

  test('when a status is written through one instance, then a subscriber on the other receives the events', async () => {
    const { a, b, key } = await twoInstances(store)
    const watcher = await subscriber(b, key, { since_seq: 0 })

    expect((await call(a, key, 'POST', '/api/status', { status_id: 'cross-1' })).status).toBe(201)
    const put = await call(a, key, 'PUT', '/api/status/cross-1', { new_status: 'processing' })
    expect(put.status).toBe(200)

    await until(() => watcher.events.length === 2, 'both events reach the other instance')
    expect(watcher.events.map((e) => [e.seq, e.type, e.status_id])).toEqual([
      [1, 'status.created', 'cross-1'],
      [2, 'status.updated', 'cross-1'],
    ])
  })

  onPostgres(
    'when polling is all but off, then a commit on one instance still wakes the other at once',
    async () => {
      // A ten-minute poll: B can only learn of A's commit through the cluster's wake-up.
      const { a, b, key } = await twoInstances(store, { EVENT_POLL_MS: '600000' })
      const watcher = await subscriber(b, key, { status_ids: ['woken-1'] })

      expect((await call(a, key, 'POST', '/api/status', { status_id: 'woken-1' })).status).toBe(201)
      await until(() => watcher.events.length === 1, 'the event reaches the other instance without a poll')
      expect(watcher.events[0]).toMatchObject({ type: 'status.created', status_id: 'woken-1' })
    },
  )

  test('when both instances write at once, then seq has no gap and every event reaches a subscriber once, in order', async () => {
    const { a, b, key } = await twoInstances(store)
    const watcher = await subscriber(a, key, { since_seq: 0 })
    const perInstance = 40

    const writer = async (server: ServerProcess, prefix: string) => {
      for (const n of range(1, perInstance)) {
        const id = `${prefix}-${n}`
        expect((await call(server, key, 'POST', '/api/status', { status_id: id })).status).toBe(201)
        const res = await call(server, key, 'PUT', `/api/status/${id}`, { progress_percentage: 50 })
        expect(res.status).toBe(200)
      }
    }
    await Promise.all([writer(a, 'via-a'), writer(b, 'via-b')])

    const total = perInstance * 2 * 2
    for (const server of [a, b]) {
      const events = await feed(server, key)
      expect(events.map((e) => e.seq)).toEqual(range(1, total))
    }
    await until(() => watcher.events.length >= total, 'the subscriber has every event')
    expect(watcher.events.map((e) => e.seq)).toEqual(range(1, total))
  })

  onPostgres('when one key calls both instances, then its rate limit counts the calls to both', async () => {
    const { a, b, key } = await twoInstances(store, { RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '6' })
    const codes: number[] = []
    for (const n of range(1, 4)) {
      codes.push((await call(a, key, 'GET', `/api/status?limit=${n}`)).status)
      codes.push((await call(b, key, 'GET', `/api/status?limit=${n}`)).status)
    }
    expect(codes.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200])
    expect(codes.slice(6)).toEqual([429, 429])
  })

  test('when the instance holding a delivery is SIGKILLed, then the other takes it over once its lease runs out', async () => {
    const url = await freshDatabase(store)
    // The lease is the timeout plus 10 s: a short timeout keeps the takeover quick.
    const env = { DATABASE_URL: url, WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_BACKOFF_BASE_MS: '50' }
    const a = await startServerProcess(env)
    const key = a.adminKey!
    const receiver = await startReceiver((n) => (n === 1 ? 'hang' : 200))
    receivers.push(receiver)
    const hook = await call(a, key, 'POST', '/api/webhooks', { url: receiver.url })
    expect(hook.status).toBe(201)
    const webhookId = ((await hook.json()) as { id: string }).id
    expect((await call(a, key, 'POST', '/api/status', { status_id: 'taken-over' })).status).toBe(201)
    await until(() => receiver.held() === 1, 'A has the delivery on the wire')
    // B starts only now, so the claim is certainly A's.
    const b = await startServerProcess(env)

    await a.kill('SIGKILL')
    const delivered = async () => {
      const res = await call(b, key, 'GET', `/api/webhooks/${webhookId}/deliveries?state=delivered`)
      return ((await res.json()) as { items: unknown[] }).items.length === 1
    }
    await until(delivered, 'the delivery is delivered through the surviving instance', 60_000)
    expect(new Set(receiver.eventIds()).size).toBe(1)
  })

  test('when both instances relay events to a webhook, then each event is delivered once', async () => {
    const { a, b, key } = await twoInstances(store)
    const receiver = await startReceiver()
    receivers.push(receiver)
    const hook = await call(a, key, 'POST', '/api/webhooks', { url: receiver.url })
    expect(hook.status).toBe(201)

    const ids = range(1, 10).map((n) => `hooked-${n}`)
    for (const [n, id] of ids.entries()) {
      const server = n % 2 === 0 ? a : b
      expect((await call(server, key, 'POST', '/api/status', { status_id: id })).status).toBe(201)
    }
    await until(() => receiver.received.length >= ids.length, 'every creation is delivered')
    // Both instances run the relay and the dispatcher; give a duplicate time to show up.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const delivered = receiver.eventIds()
    expect(new Set(delivered).size).toBe(ids.length)
    expect(delivered).toHaveLength(ids.length)
    // The tenant's events were turned into deliveries by one of them only: the holder of its relay lease.
    const leases = async (server: ServerProcess) =>
      Number(/^status_relay_leases (\d+)$/m.exec(await (await fetch(`${server.baseUrl}/metrics`)).text())![1])
    expect((await leases(a)) + (await leases(b))).toBe(1)
  })

  /** `count` statuses created processing through `server`, with a 1 s heartbeat timeout and no retries. */
  async function stallingStatuses(server: ServerProcess, key: string, count: number, prefix: string) {
    const body = range(1, count).map((n) => ({ status_id: `${prefix}-${n}` }))
    for (const { status_id } of body) {
      const res = await call(server, key, 'POST', '/api/status', {
        status_id,
        status: 'processing',
        heartbeat_timeout_s: 1,
        max_retries: 0,
      })
      expect(res.status).toBe(201)
    }
    return body.map((b) => b.status_id)
  }

  /** The feed's `status.error` events by status: each swept status must have exactly one. */
  async function sweepsOf(server: ServerProcess, key: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>()
    for (const event of await feed(server, key))
      if (event.type === 'status.error') counts.set(event.status_id, (counts.get(event.status_id) ?? 0) + 1)
    return counts
  }

  test('when the key that issued a browser token is revoked on one instance, then the other refuses the token within its key cache time (SPEC §13)', async () => {
    const { a, b, key } = await twoInstances(store)
    expect((await call(a, key, 'POST', '/api/status', { status_id: 'watched' })).status).toBe(201)
    const issuer = (await (await call(a, key, 'POST', '/api/keys', { scopes: ['status:read'] })).json()) as {
      id: string
      key: string
    }
    const issued = await call(a, issuer.key, 'POST', '/api/tokens', { status_ids: ['watched'] })
    const { token } = (await issued.json()) as { token: string }
    // Made on one instance, taken by the other: the signing secret is the database's.
    expect((await call(b, token, 'GET', '/api/status/watched')).status).toBe(200)
    expect((await call(a, key, 'DELETE', `/api/keys/${issuer.id}`)).status).toBe(204)
    expect((await call(a, token, 'GET', '/api/status/watched')).status).toBe(401)
    // B trusted the key for up to its cache time (5 s): within that, and a margin, it refuses too.
    await until(
      async () => (await call(b, token, 'GET', '/api/status/watched')).status === 401,
      'B refuses',
      15_000,
    )
  })

  test('when a read waits on one instance, then a write through the other wakes it (SPEC §11)', async () => {
    const { a, b, key } = await twoInstances(store)
    expect((await call(a, key, 'POST', '/api/status', { status_id: 'waited' })).status).toBe(201)
    const waiting = call(b, key, 'GET', '/api/status/waited?wait=terminal&timeout_s=60')
    expect((await call(a, key, 'PUT', '/api/status/waited', { new_status: 'processing' })).status).toBe(200)
    expect((await call(a, key, 'POST', '/api/status/waited/cancel')).status).toBe(200)
    const res = await waiting
    expect(res.headers.get('status-wait')).toBeNull()
    expect(await res.json()).toMatchObject({ status: 'cancelled', version: 3 })
  })

  test('when both instances sweep the same due statuses, then each is swept exactly once (SPEC §11)', async () => {
    const { a, b, key } = await twoInstances(store, { SWEEP_INTERVAL_MS: '20' })
    const ids = await stallingStatuses(a, key, 200, 'stalls')
    await until(async () => (await sweepsOf(b, key)).size === ids.length, 'every status swept', 60_000)
    // A write after the sweeps is the next event: nothing was swept twice in between.
    expect((await call(a, key, 'POST', '/api/status', { status_id: 'sentinel' })).status).toBe(201)
    await until(async () => (await feed(b, key)).some((e) => e.status_id === 'sentinel'), 'the sentinel')
    const sweeps = await sweepsOf(b, key)
    expect([...sweeps.values()].every((n) => n === 1)).toBe(true)
    const events = await feed(b, key)
    expect(events.map((e) => e.seq)).toEqual(range(1, events.length))
    for (const id of ids) {
      const res = await call(b, key, 'GET', `/api/status/${id}`)
      expect(await res.json()).toMatchObject({
        status: 'failed',
        version: 2,
        error_info: { code: 'heartbeat-timeout' },
      })
    }
  })

  test('when the sweeping instance is SIGKILLed mid-sweep, then the other sweeps what is left, each once', async () => {
    const url = await freshDatabase(store)
    // Only A sweeps at first: B's sweeper looks once an hour until A is gone and B is restarted.
    const a = await startServerProcess({
      DATABASE_URL: url,
      SWEEP_INTERVAL_MS: '20',
      UPDATER_BATCH_SIZE: '10',
    })
    const key = a.adminKey!
    const ids = await stallingStatuses(a, key, 300, 'orphan')
    await until(async () => (await sweepsOf(a, key)).size > 0, 'A has begun sweeping', 60_000)
    await a.kill('SIGKILL')
    const b = await startServerProcess({ DATABASE_URL: url, SWEEP_INTERVAL_MS: '20' })
    await until(async () => (await sweepsOf(b, key)).size === ids.length, 'B swept the rest', 60_000)
    expect((await call(b, key, 'POST', '/api/status', { status_id: 'sentinel' })).status).toBe(201)
    await until(async () => (await feed(b, key)).some((e) => e.status_id === 'sentinel'), 'the sentinel')
    expect([...(await sweepsOf(b, key)).values()].every((n) => n === 1)).toBe(true)
  })
})
