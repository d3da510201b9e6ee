import http from 'node:http'
import { io, type Socket as ClientSocket } from 'socket.io-client'
import { makeStatus } from '../helpers/factories'
import {
  killAllProcesses,
  startServerProcess,
  tempDatabase,
  type ServerProcess,
} from '../helpers/server-process'
import type { EventJson } from '../helpers/status-api'
import { until } from '../helpers/wait'

jest.setTimeout(60_000)

const databases: ReturnType<typeof tempDatabase>[] = []
const clients: ClientSocket[] = []
const requests: http.ClientRequest[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect()
  for (const request of requests.splice(0)) request.destroy()
  await killAllProcesses()
})
afterAll(() => databases.forEach((database) => database.cleanup()))

const newDatabase = () => {
  const database = tempDatabase()
  databases.push(database)
  return database
}

const call = (server: ServerProcess, key: string, method: string, route: string, body?: unknown) =>
  fetch(`${server.baseUrl}${route}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })

async function connect(server: ServerProcess, key: string): Promise<ClientSocket> {
  const socket = io(`${server.baseUrl}/status`, {
    transports: ['websocket'],
    auth: { token: key },
    reconnection: false,
    forceNew: true,
  })
  clients.push(socket)
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject))
  return socket
}

interface Ack {
  ok: boolean
  seq: number
  replayed: number
}

const subscribe = (socket: ClientSocket, payload: unknown): Promise<Ack> =>
  socket.timeout(20_000).emitWithAck('subscribe', payload)

test('when the server is SIGKILLed right after a 200 on PUT, then after a restart a subscriber resuming from its last seen seq is replayed that update’s event', async () => {
  const { url } = newDatabase()
  const first = await startServerProcess({ DATABASE_URL: url })
  const key = first.adminKey!
  const { status_id: id } = makeStatus()
  expect((await call(first, key, 'POST', '/api/status', { status_id: id })).status).toBe(201)

  const before = await connect(first, key)
  const seen: EventJson[] = []
  before.on('status.event', (event: EventJson) => seen.push(event))
  const ack = await subscribe(before, { since_seq: 0 })
  expect(ack).toMatchObject({ ok: true, seq: 1, replayed: 1 })
  await until(() => seen.length === 1, 'the creation was replayed')
  const lastSeen = seen.at(-1)!.seq

  const put = await call(first, key, 'PUT', `/api/status/${id}`, {
    new_status: 'processing',
    progress_percentage: 42,
    message: 'written just before the crash',
  })
  expect(put.status).toBe(200)
  expect((await first.kill('SIGKILL')).signal).toBe('SIGKILL')
  // Whether or not it made it to the client before the crash, the client had not processed it.
  const deliveredBeforeCrash = seen.find((event) => event.seq > lastSeen)

  const second = await startServerProcess({ DATABASE_URL: url })
  expect(second.adminKey).toBeUndefined()
  const after = await connect(second, key)
  const replayed: EventJson[] = []
  after.on('status.event', (event: EventJson) => replayed.push(event))
  const resumed = await subscribe(after, { since_seq: lastSeen })
  expect(resumed).toMatchObject({ ok: true, seq: lastSeen + 1, replayed: 1 })
  await until(() => replayed.length === 1, 'the update was replayed')

  expect(replayed[0]).toMatchObject({
    seq: lastSeen + 1,
    type: 'status.updated',
    status_id: id,
    version: 2,
    changes: expect.objectContaining({ status: ['pending', 'processing'] }),
    status: expect.objectContaining({
      status: 'processing',
      progress_percentage: 42,
      message: 'written just before the crash',
    }),
  })
  // Delivered twice at most, and recognisably the same event.
  if (deliveredBeforeCrash) expect(deliveredBeforeCrash.event_id).toBe(replayed[0]!.event_id)
  const feed = await call(second, key, 'GET', `/api/events?after_seq=${lastSeen}`)
  const { items } = (await feed.json()) as { items: EventJson[] }
  expect(items).toEqual([expect.objectContaining({ event_id: replayed[0]!.event_id })])
})

test('when the server gets SIGTERM, then Socket.IO and SSE clients are disconnected and the process exits 0', async () => {
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url })
  const key = server.adminKey!
  const socket = await connect(server, key)
  expect(await subscribe(socket, {})).toMatchObject({ ok: true })
  const socketClosed = new Promise<string>((resolve) => socket.once('disconnect', resolve))

  let sseEnded = false
  const sseOpen = new Promise<http.IncomingMessage>((resolve, reject) => {
    const request = http.get(
      {
        host: '127.0.0.1',
        port: server.port,
        path: '/api/events/stream',
        headers: { Authorization: `Bearer ${key}` },
        agent: false,
      },
      resolve,
    )
    request.once('error', reject)
    requests.push(request)
  })
  const sse = await sseOpen
  expect(sse.statusCode).toBe(200)
  sse.resume()
  const sseClosed = new Promise<void>((resolve) => {
    sse.once('end', () => {
      sseEnded = true
      resolve()
    })
    sse.once('close', resolve)
  })

  const exit = await server.kill('SIGTERM')

  expect(exit).toEqual({ code: 0, signal: null })
  expect(await socketClosed).toMatch(/io server disconnect|transport close/)
  await sseClosed
  expect(sseEnded).toBe(true)
  expect(server.stdout()).toContain('"msg":"stopped"')
  expect(server.stdout()).not.toContain('shutdown grace period over')
})
