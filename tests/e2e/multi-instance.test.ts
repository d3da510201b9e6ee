// Two server processes on one database: what a client of either sees must be what one instance gives.
import { io, type Socket as ClientSocket } from 'socket.io-client'
import {
  killAllProcesses,
  startServerProcess,
  tempDatabase,
  type ServerProcess,
} from '../helpers/server-process'
import type { EventJson } from '../helpers/status-api'
import { range, until } from '../helpers/wait'

jest.setTimeout(120_000)

const databases: ReturnType<typeof tempDatabase>[] = []
const clients: ClientSocket[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect()
  await killAllProcesses()
})
afterAll(() => databases.forEach((database) => database.cleanup()))

/** Two instances on one fresh database, and the admin key the first one created. */
async function twoInstances(): Promise<{ a: ServerProcess; b: ServerProcess; key: string }> {
  const database = tempDatabase()
  databases.push(database)
  const a = await startServerProcess({ DATABASE_URL: database.url })
  const b = await startServerProcess({ DATABASE_URL: database.url })
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

test('when a status is written through one instance, then a subscriber on the other receives the events', async () => {
  const { a, b, key } = await twoInstances()
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

test('when both instances write at once, then seq has no gap and every event reaches a subscriber once, in order', async () => {
  const { a, b, key } = await twoInstances()
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
