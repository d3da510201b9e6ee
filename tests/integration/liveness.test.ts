import { io, type Socket as ClientSocket } from 'socket.io-client'
import { loadConfig } from '../../src/config'
import { openDatabase } from '../../src/db/prisma'
import { startServer } from '../../src/server'
import { createServices } from '../../src/services'
import { openEventStream, type Stream } from '../helpers/sse-stream'
import type { EventJson, StatusJson } from '../helpers/status-api'
import { freshTenantName } from '../helpers/tenants'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'
import { range, until } from '../helpers/wait'
import { startReceiver, type Receiver } from '../helpers/webhook-receiver'

// SPEC §11 through a real server: real clock (the shortest heartbeat timeout is 1 s, and the sweeper
// looks every 50 ms here), real HTTP, Socket.IO, SSE and a webhook receiver.

jest.setTimeout(120_000)

let server: Awaited<ReturnType<typeof startServer>>
let baseUrl: string
let store: TestDatabase
const cleanups: (() => unknown)[] = []

beforeAll(async () => {
  store = await createTestDatabase('liveness')
  // A key up front, so startServer finds a non-empty database and prints no bootstrap key.
  const seeding = await openDatabase({ url: store.url })
  await (await createServices({ db: seeding })).apiKeys.create('default', ['admin'])
  await seeding.close()
  server = await startServer(
    loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: store.url,
      LOG_LEVEL: 'silent',
      SWEEP_INTERVAL_MS: '50',
      BOOKMARK_INTERVAL_MS: '100',
      WEBHOOK_BACKOFF_BASE_MS: '10',
    }),
  )
  baseUrl = `http://127.0.0.1:${server.port}`
})

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

afterAll(async () => {
  await server?.stop()
  await store?.drop()
})

interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** A tenant of its own with a read/write key. */
async function freshTenant() {
  const name = freshTenantName('liveness')
  const { secret: key } = await server.services.apiKeys.create(name, ['admin'])
  const call = async (method: string, route: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} }
  }
  let n = 0
  return {
    name,
    key,
    call,
    async create(body: Record<string, unknown> = {}): Promise<StatusJson> {
      n += 1
      const res = await call('POST', '/api/status', { status_id: `${name}-${n}`, ...body })
      expect(res.status).toBe(201)
      return res.body as unknown as StatusJson
    },
    get: (id: string, query = '') => call('GET', `/api/status/${id}${query}`),
    heartbeat: (id: string, body?: unknown) => call('POST', `/api/status/${id}/heartbeat`, body),
    history: async (id: string) =>
      ((await call('GET', `/api/status/${id}/history?limit=100`)).body.items as EventJson[]).map(
        (e) => e.type,
      ),
    head: async () => Number((await call('GET', '/api/events?after_seq=0&limit=1000')).body.next_after_seq),
  }
}
type Tenant = Awaited<ReturnType<typeof freshTenant>>

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString()

function socketOf(key: string): Promise<ClientSocket> {
  const socket = io(`${baseUrl}/status`, {
    transports: ['websocket'],
    auth: { token: key },
    reconnection: false,
    forceNew: true,
  })
  cleanups.push(() => socket.disconnect())
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket))
    socket.once('connect_error', reject)
  })
}

const subscribe = (socket: ClientSocket, request: Record<string, unknown>) =>
  socket.emitWithAck('subscribe', request) as Promise<{ ok: boolean; subscription_id: string; seq: number }>

async function stream(tenant: Tenant, query: string): Promise<Stream> {
  const opened = await openEventStream(server.port, { key: tenant.key, query })
  cleanups.push(() => opened.close())
  return opened
}

async function receiver(tenant: Tenant): Promise<Receiver> {
  const inbox = await startReceiver()
  cleanups.push(() => inbox.close())
  expect((await tenant.call('POST', '/api/webhooks', { url: inbox.url })).status).toBe(201)
  return inbox
}

describe('create with liveness fields', () => {
  test('when heartbeat_timeout_s, start_by and deadline_at are given, then the record carries them', async () => {
    const t = await freshTenant()
    const [startBy, deadline] = [inSeconds(600), inSeconds(3600)]
    const s = await t.create({ heartbeat_timeout_s: 30, start_by: startBy, deadline_at: deadline })
    expect(s).toMatchObject({
      heartbeat_timeout_s: 30,
      start_by: startBy,
      deadline_at: deadline,
      last_heartbeat_at: null,
    })
    expect((await t.get(s.status_id)).body).toMatchObject({ heartbeat_timeout_s: 30, deadline_at: deadline })
  })

  test.each([
    ['heartbeat_timeout_s', 0],
    ['heartbeat_timeout_s', -5],
    ['heartbeat_timeout_s', 86_401],
    ['heartbeat_timeout_s', 1.5],
    ['deadline_at', 'tomorrow'],
    ['deadline_at', new Date(Date.now() - 1000).toISOString()],
    ['start_by', new Date(Date.now() - 60_000).toISOString()],
  ])('when %s is %p, then 400 names it and nothing is created', async (field, value) => {
    const t = await freshTenant()
    const res = await t.call('POST', '/api/status', { status_id: 'bad', [field]: value })
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ status: 400, code: 'validation-failed' })
    expect((res.body.errors as { path: string }[]).map((e) => e.path)).toContain(field)
    expect((await t.get('bad')).status).toBe(404)
    expect(await t.head()).toBe(0)
  })
})

describe('POST /api/status/:id/heartbeat', () => {
  test('when bare, then last_heartbeat_at moves and neither the version nor the feed does', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing', heartbeat_timeout_s: 60 })
    const head = await t.head()
    const res = await t.heartbeat(s.status_id)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status_id: s.status_id, last_heartbeat_at: expect.any(String), version: 1 })
    const after = (await t.get(s.status_id)).body
    expect(after).toMatchObject({ version: 1, last_heartbeat_at: res.body.last_heartbeat_at })
    // A later write must be the next event: the heartbeat made none.
    await t.call('PUT', `/api/status/${s.status_id}`, { progress_percentage: 5 })
    expect(await t.head()).toBe(head + 1)
  })

  test('when it carries progress, then it is an update with a new version and its event', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing' })
    const res = await t.heartbeat(s.status_id, { progress_percentage: 40, message: 'encoding' })
    expect(res.body).toMatchObject({ version: 2 })
    expect((await t.get(s.status_id)).body).toMatchObject({ progress_percentage: 40, message: 'encoding' })
    expect(await t.history(s.status_id)).toEqual(['status.created', 'status.progress'])
  })

  test('when many statuses beat at once, then they are written in shared transactions', async () => {
    const t = await freshTenant()
    const ids: string[] = []
    for (const _ of range(1, 50)) ids.push((await t.create({ status: 'processing' })).status_id)
    // In-process, so all fifty are queued within one flush window whatever the machine's load.
    const before = server.services.updater.stats().flushes
    const answers = await Promise.all(ids.map((id) => server.services.statuses.heartbeat(t.name, id, {})))
    expect(answers.map((a) => a.version)).toEqual(ids.map(() => 1))
    // Other tests' statuses being swept meanwhile may take a flush or two of their own.
    expect(server.services.updater.stats().flushes - before).toBeLessThanOrEqual(3)
  })

  test.each([
    ['a terminal status', 409, 'status-terminal'],
    ['an unknown id', 404, 'status-not-found'],
  ])('when it is for %s, then %i %s and nothing changes', async (what, code, problem) => {
    const t = await freshTenant()
    const s = await t.create({ status: 'completed' })
    const id = what === 'an unknown id' ? 'nope' : s.status_id
    const head = await t.head()
    const res = await t.heartbeat(id)
    expect(res.status).toBe(code)
    expect(res.body).toMatchObject({ status: code, code: problem })
    expect(await t.head()).toBe(head)
    expect((await t.get(s.status_id)).body.last_heartbeat_at).toBeNull()
  })

  test('when the body has an unknown field or a bad progress, then 400', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing' })
    for (const body of [{ percent: 3 }, { progress_percentage: 101 }, { message: 7 }]) {
      const res = await t.heartbeat(s.status_id, body)
      expect(res).toMatchObject({ status: 400, body: { status: 400, code: 'validation-failed' } })
    }
    expect((await t.get(s.status_id)).body).toMatchObject({ version: 1, last_heartbeat_at: null })
  })
})

describe('the sweeper', () => {
  test('when heartbeats keep coming, then the status stays processing past its timeout', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing', heartbeat_timeout_s: 2 })
    const stopAt = Date.now() + 3000
    while (Date.now() < stopAt) {
      expect((await t.heartbeat(s.status_id)).status).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    // Proof that the sweeper ran meanwhile: a sibling without heartbeats was swept.
    const silent = await t.create({ status: 'processing', heartbeat_timeout_s: 1 })
    await until(
      async () => (await t.get(silent.status_id)).body.status === 'retry_pending',
      'the silent one swept',
    )
    expect((await t.get(s.status_id)).body).toMatchObject({ status: 'processing', retry_count: 0 })
  })

  test('when the heartbeat lapses, then retry_pending, and failed once retries run out, on every channel', async () => {
    const t = await freshTenant()
    const inbox = await receiver(t)
    const socket = await socketOf(t.key)
    const socketEvents: EventJson[] = []
    socket.on('status.event', (e: EventJson) => socketEvents.push(e))
    const s = await t.create({ status: 'processing', heartbeat_timeout_s: 1, max_retries: 1 })
    expect((await subscribe(socket, { status_ids: [s.status_id] })).ok).toBe(true)
    const sse = await stream(t, `?since_seq=0&status_ids=${s.status_id}`)

    await until(async () => (await t.get(s.status_id)).body.status === 'retry_pending', 'the first lapse')
    expect((await t.get(s.status_id)).body).toMatchObject({
      retry_count: 1,
      error_info: { code: 'heartbeat-timeout' },
    })
    await t.call('PUT', `/api/status/${s.status_id}`, { new_status: 'processing' })
    await until(async () => (await t.get(s.status_id)).body.status === 'failed', 'the second lapse')
    const failed = (await t.get(s.status_id)).body
    expect(failed).toMatchObject({ retry_count: 2, error_info: { code: 'heartbeat-timeout' } })

    const types = ['status.created', 'status.error', 'status.updated', 'status.error']
    expect(await t.history(s.status_id)).toEqual(types)
    await until(() => sse.events().length === 4, 'SSE has all four')
    expect(sse.events().map((e) => e.type)).toEqual(types)
    await until(() => socketEvents.length === 3, 'Socket.IO has the three after its snapshot')
    expect(socketEvents.map((e) => e.type)).toEqual(types.slice(1))
    await until(() => inbox.received.length >= 4, 'the webhook has all four')
    expect(inbox.received.map((r) => r.event.type).slice(0, 4)).toEqual(types)
    expect(inbox.received[3]!.event.status).toMatchObject({ status: 'failed', version: failed.version })
  })

  test('when start_by passes while pending, then failed with start-timeout and no retry', async () => {
    const t = await freshTenant()
    const s = await t.create({ start_by: inSeconds(1), max_retries: 5 })
    await until(async () => (await t.get(s.status_id)).body.status === 'failed', 'start-timeout')
    expect((await t.get(s.status_id)).body).toMatchObject({
      error_info: { code: 'start-timeout' },
      retry_count: 1,
    })
  })

  test('when the deadline passes while processing with heartbeats, then failed with deadline-exceeded', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing', deadline_at: inSeconds(1), heartbeat_timeout_s: 60 })
    await until(async () => {
      await t.heartbeat(s.status_id)
      return (await t.get(s.status_id)).body.status === 'failed'
    }, 'deadline-exceeded')
    expect((await t.get(s.status_id)).body.error_info).toMatchObject({ code: 'deadline-exceeded' })
    expect(await t.history(s.status_id)).toEqual(['status.created', 'status.error'])
  })

  test('when a status finishes before it is due, then the sweeper leaves it alone', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing', heartbeat_timeout_s: 1, deadline_at: inSeconds(1) })
    await t.call('PUT', `/api/status/${s.status_id}`, { new_status: 'completed' })
    // A sibling due at the same time proves a sweep ran after the due time.
    const sibling = await t.create({ status: 'processing', heartbeat_timeout_s: 1 })
    await until(
      async () => (await t.get(sibling.status_id)).body.status === 'retry_pending',
      'the sibling swept',
    )
    expect(await t.history(s.status_id)).toEqual(['status.created', 'status.updated'])
  })
})

describe('a write racing the sweeper (injected clock)', () => {
  test.each(['the write first', 'the sweep first'] as const)(
    'when a heartbeat and a sweep of a due status meet in one flush, %s, then exactly one outcome, version by version',
    async (order) => {
      const own = await createTestDatabase('liveness-race')
      cleanups.push(() => own.drop())
      let now = Date.parse('2030-01-01T00:00:00.000Z')
      const db = await openDatabase({ url: own.url })
      // No background sweeps: the test sweeps by hand, at the clock it set.
      const services = await createServices({
        db,
        clock: () => new Date(now),
        sweeper: { intervalMs: 3_600_000 },
      })
      cleanups.push(() => services.stop())
      await services.apiKeys.create('race', ['status:read'])
      await services.statuses.create('race', {
        status_id: 'r',
        status: 'processing',
        heartbeat_timeout_s: 10,
      })
      now += 11_000
      // Straight to the writer, as the route's command would go, so that the order below is the queue's.
      const beat = () =>
        services.updater.execute('race', 'r', { type: 'update', input: { progress_percentage: 30 } })
      const sweep = () => services.updater.later('race', 'r', { type: 'sweep' })
      // Both are queued in this turn, so one flush applies them in this order.
      const [first, second] = order === 'the write first' ? [beat(), sweep()] : [sweep(), beat()]
      await Promise.all([first, second])
      const history = (await services.statuses.history('race', 'r', { limit: 10 })).items
      expect(history.map((e) => e.version)).toEqual(range(1, history.length))
      const record = await services.statuses.get('race', 'r')
      expect(record.version).toBe(history.at(-1)!.version)
      if (order === 'the write first') {
        // The write was a heartbeat: the status was no longer due, and the sweep wrote nothing.
        expect(history.map((e) => e.type)).toEqual(['status.created', 'status.progress'])
        expect(record).toMatchObject({ status: 'processing', retry_count: 0, progress_percentage: 30 })
      } else {
        // Swept first; the write then applies to the retry_pending status, as any later write would.
        expect(history.map((e) => e.type)).toEqual(['status.created', 'status.error', 'status.progress'])
        expect(record).toMatchObject({ status: 'retry_pending', retry_count: 1, progress_percentage: 30 })
      }
      // Swept again later, nothing more: what was due has been dealt with.
      await services.sweeper.sweep()
      expect((await services.statuses.history('race', 'r', { limit: 10 })).items).toHaveLength(history.length)
    },
  )
})

describe('filters stalled and overdue', () => {
  test('when listed, counted and bulk-cancelled, then stalled and overdue select what they say', async () => {
    // A server whose sweeper never runs, so stalled statuses stay stalled to be seen.
    const own = await createTestDatabase('liveness-filters')
    cleanups.push(() => own.drop())
    const db = await openDatabase({ url: own.url })
    const services = await createServices({ db, sweeper: { intervalMs: 3_600_000 } })
    cleanups.push(() => services.stop())
    const now = Date.now()
    const clockless = services.statuses
    const tenant = 'filters'
    await services.apiKeys.create(tenant, ['status:read'])
    await clockless.create(tenant, { status_id: 'stalls', status: 'processing', heartbeat_timeout_s: 1 })
    await clockless.create(tenant, { status_id: 'healthy', status: 'processing', heartbeat_timeout_s: 600 })
    await clockless.create(tenant, { status_id: 'late', deadline_at: new Date(now + 1000) })
    await clockless.create(tenant, { status_id: 'plain', status: 'processing' })
    await until(() => Date.now() > now + 1100, 'both are due')
    const ids = async (filter: Record<string, unknown>) =>
      (
        await services.filters.list(tenant, {
          ...filter,
          sort: { key: 'status_id', descending: false },
          limit: 50,
        })
      ).items.map((s) => s.status_id)
    expect(await ids({ stalled: true })).toEqual(['stalls'])
    expect(await ids({ overdue: true })).toEqual(['late'])
    expect((await services.filters.stats(tenant, { stalled: true })).total).toBe(1)
    expect(await services.filters.cancelMatching(tenant, { overdue: true })).toBe(1)
    expect((await clockless.get(tenant, 'late')).status).toBe('cancelled')
    expect((await clockless.get(tenant, 'stalls')).status).toBe('processing')
  })

  test('when given over HTTP, then only true is accepted', async () => {
    const t = await freshTenant()
    expect((await t.call('GET', '/api/status?stalled=true&overdue=true')).status).toBe(200)
    for (const query of ['stalled=false', 'overdue=1', 'stalled=yes'])
      expect((await t.call('GET', `/api/status?${query}`)).body).toMatchObject({
        status: 400,
        code: 'validation-failed',
      })
  })
})

describe('GET /api/status/:id?wait=', () => {
  test('when the status becomes terminal, then the waiting read answers with it', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing' })
    const waiting = t.get(s.status_id, '?wait=terminal&timeout_s=30')
    // A progress update is a change, not the end: the wait goes on through it.
    await t.call('PUT', `/api/status/${s.status_id}`, { progress_percentage: 50 })
    await t.call('PUT', `/api/status/${s.status_id}`, { new_status: 'completed' })
    const res = await waiting
    expect(res.status).toBe(200)
    expect(res.headers.get('status-wait')).toBeNull()
    expect(res.body).toMatchObject({ status: 'completed', version: 3 })
  })

  test('when wait=change, then it answers at the first version above after_version', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing' })
    const waiting = t.get(s.status_id, '?wait=change&after_version=1')
    await t.call('PUT', `/api/status/${s.status_id}`, { progress_percentage: 10 })
    expect((await waiting).body).toMatchObject({ version: 2, progress_percentage: 10 })
    // Already above: at once.
    expect((await t.get(s.status_id, '?wait=change&after_version=1')).body).toMatchObject({ version: 2 })
  })

  test('when nothing happens, then it answers at the timeout with the record and Status-Wait: timeout', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing' })
    const res = await t.get(s.status_id, '?wait=terminal&timeout_s=1')
    expect(res.status).toBe(200)
    expect(res.headers.get('status-wait')).toBe('timeout')
    expect(res.body).toMatchObject({ status: 'processing', version: 1 })
    const zero = await t.get(s.status_id, '?wait=change&timeout_s=0')
    expect(zero.headers.get('status-wait')).toBe('timeout')
  })

  test('when the status is already terminal, deleted or unknown, then at once: the record, or 404', async () => {
    const t = await freshTenant()
    const done = await t.create({ status: 'failed' })
    expect((await t.get(done.status_id, '?wait=terminal')).body).toMatchObject({ status: 'failed' })
    expect((await t.get('nope', '?wait=terminal')).status).toBe(404)
    const doomed = await t.create()
    const waiting = t.get(doomed.status_id, '?wait=terminal')
    await t.call('DELETE', `/api/status/${doomed.status_id}`)
    expect((await waiting).body).toMatchObject({ status: 404, code: 'status-not-found' })
  })

  test('when the query is wrong, then 400 naming the parameter', async () => {
    const t = await freshTenant()
    const s = await t.create()
    for (const [query, path] of [
      ['?wait=forever', 'wait'],
      ['?wait=terminal&timeout_s=61', 'timeout_s'],
      ['?wait=terminal&timeout_s=-1', 'timeout_s'],
      ['?timeout_s=5', 'timeout_s'],
      ['?wait=terminal&after_version=2', 'after_version'],
    ]) {
      const res = await t.get(s.status_id, query)
      expect(res.body).toMatchObject({ status: 400, code: 'validation-failed' })
      expect((res.body.errors as { path: string }[]).map((e) => e.path)).toContain(path)
    }
  })

  test('when a key holds 1,000 waiting reads, then the 1,001st is 429 and the others still answer', async () => {
    const t = await freshTenant()
    const s = await t.create({ status: 'processing' })
    const waiting = range(1, 1000).map(() => t.get(s.status_id, '?wait=change&timeout_s=60'))
    await until(() => server.services.waiters.count() >= 1000, 'all 1,000 wait')
    const refused = await t.get(s.status_id, '?wait=change&timeout_s=60')
    expect(refused.body).toMatchObject({ status: 429, code: 'too-many-waiters' })
    // Another key of the same tenant has its own allowance.
    const { secret: other } = await server.services.apiKeys.create(t.name, ['status:read'])
    const otherWait = fetch(`${baseUrl}/api/status/${s.status_id}?wait=change&timeout_s=60`, {
      headers: { Authorization: `Bearer ${other}` },
    })
    await until(() => server.services.waiters.count() === 1001, 'the other key waits')
    await t.call('PUT', `/api/status/${s.status_id}`, { progress_percentage: 1 })
    const answers = await Promise.all(waiting)
    expect(answers.every((a) => a.status === 200 && a.body.version === 2)).toBe(true)
    expect(((await (await otherWait).json()) as StatusJson).version).toBe(2)
    expect(server.services.waiters.count()).toBe(0)
  })
})

describe('waiting reads and shutdown', () => {
  test('when the service stops, then a waiting read is answered at once as a timeout, not dropped', async () => {
    const own = await createTestDatabase('liveness-shutdown')
    cleanups.push(() => own.drop())
    const seeding = await openDatabase({ url: own.url })
    const { secret: key } = await (await createServices({ db: seeding })).apiKeys.create('default', ['admin'])
    await seeding.close()
    const other = await startServer(
      loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: own.url, LOG_LEVEL: 'silent' }),
    )
    const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }
    const url = `http://127.0.0.1:${other.port}/api/status`
    expect((await fetch(url, { method: 'POST', headers, body: '{"status_id":"held"}' })).status).toBe(201)
    const waiting = fetch(`${url}/held?wait=terminal&timeout_s=60`, { headers })
    await until(() => other.services.waiters.count() === 1, 'the read waits')
    const stopping = other.stop()
    const res = await waiting
    expect(res.status).toBe(200)
    expect(res.headers.get('status-wait')).toBe('timeout')
    expect(await res.json()).toMatchObject({ status_id: 'held', status: 'pending' })
    await stopping
  })
})

describe('bookmarks', () => {
  test("when other statuses' events go by, then a filtered subscriber's bookmark advances, and resuming there misses nothing", async () => {
    const t = await freshTenant()
    const watched = await t.create({ status: 'processing' })
    const other = await t.create({ status: 'processing' })
    const socket = await socketOf(t.key)
    const bookmarks: { subscription_id: string; seq: number }[] = []
    socket.on('status.bookmark', (b: { subscription_id: string; seq: number }) => bookmarks.push(b))
    const sub = await subscribe(socket, { status_ids: [watched.status_id] })
    const sse = await stream(t, `?status_ids=${watched.status_id}`)
    for (const p of range(1, 5))
      await t.call('PUT', `/api/status/${other.status_id}`, { progress_percentage: p })
    const head = await t.head()
    await until(() => bookmarks.some((b) => b.seq === head), 'a Socket.IO bookmark at the head')
    expect(bookmarks.every((b) => b.subscription_id === sub.subscription_id && b.seq > sub.seq)).toBe(true)
    await until(
      () => sse.frames.some((f) => f.event === 'bookmark' && f.id === String(head)),
      'an SSE bookmark',
    )
    expect(sse.events()).toEqual([])

    // Resume from the bookmark: the next matching event is the first thing that arrives.
    socket.disconnect()
    await t.call('PUT', `/api/status/${other.status_id}`, { progress_percentage: 50 })
    await t.call('PUT', `/api/status/${watched.status_id}`, { progress_percentage: 60 })
    const again = await socketOf(t.key)
    const replayed: EventJson[] = []
    again.on('status.event', (e: EventJson) => replayed.push(e))
    const resumed = await subscribe(again, { status_ids: [watched.status_id], since_seq: head })
    expect(resumed.ok).toBe(true)
    await until(() => replayed.length === 1, 'the replay')
    expect(replayed[0]).toMatchObject({ seq: head + 2, status_id: watched.status_id })
  })
})
