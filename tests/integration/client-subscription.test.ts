import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server, type Socket } from 'socket.io'
import { createStatusTrackerClient, StatusTrackerError, type StatusEvent } from '../../src/client'
import { until } from '../helpers/wait'

// The real service never sends an event twice to one connection, nor fails a subscribe at random: a
// Socket.IO server playing its part by script shows what the client does when that happens anyway.

type Ack = (answer: unknown) => void
type Script = (socket: Socket, payload: Record<string, unknown>, ack: Ack, call: number) => void

let http: HttpServer
let io: Server
let baseUrl: string
let script: Script
let requests: Record<string, unknown>[]
const clients: ReturnType<typeof createStatusTrackerClient>[] = []

beforeAll(async () => {
  http = createServer()
  io = new Server(http)
  io.of('/status').on('connection', (socket) => {
    socket.on('subscribe', (payload: Record<string, unknown>, ack: Ack) => {
      requests.push(payload)
      script(socket, payload, ack, requests.length)
    })
    socket.on('unsubscribe', (_payload: unknown, ack: Ack) => ack({ ok: true }))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
})
beforeEach(() => {
  requests = []
})
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
})
afterAll(async () => {
  await new Promise<void>((resolve) => void io.close(() => resolve()))
})

const client = (options: { subscribeAckTimeoutMs?: number } = {}) => {
  const made = createStatusTrackerClient({
    baseUrl,
    apiKey: 'st_test',
    backoff: { baseMs: 10, maxMs: 20 },
    socket: { transports: ['websocket'], reconnectionDelay: 10, reconnectionDelayMax: 20 },
    ...options,
  })
  clients.push(made)
  return made
}

const event = (seq: number) =>
  ({ event_id: `event-${seq}`, seq, type: 'status.progress', status_id: 's1' }) as unknown as StatusEvent

test('when an event comes before the ack, or again, or out of order, then each is handed over once, in seq order', async () => {
  script = (socket, _payload, ack) => {
    socket.emit('status.event', event(5))
    ack({ ok: true, subscription_id: 'sub-1', seq: 4, snapshot: [], replayed: 0 })
    for (const seq of [5, 6, 4, 6, 7]) socket.emit('status.event', event(seq))
  }
  const seqs: number[] = []
  const snapshots: number[] = []

  const subscription = client().subscribe(
    {},
    { onSnapshot: (_s, seq) => snapshots.push(seq), onEvent: (e) => seqs.push(e.seq) },
  )
  await until(() => seqs.length === 3, 'three events were handed over')

  expect(snapshots).toEqual([4])
  expect(seqs).toEqual([5, 6, 7])
  expect(subscription.lastSeq).toBe(7)
})

test('when a resumed replay is complete, then lastSeq moves to the ack’s seq, so the next resume starts there', async () => {
  script = (socket, payload, ack, call) => {
    if (call === 1) ack({ ok: true, subscription_id: 'a', seq: 10, snapshot: [], replayed: 0 })
    if (call === 2) {
      // Events 11 to 25 were read for the replay; one of them matched.
      ack({ ok: true, subscription_id: 'b', seq: 25, replayed: 1 })
      socket.emit('status.event', event(12))
    }
    if (call === 3) ack({ ok: true, subscription_id: 'c', seq: payload.since_seq, replayed: 0 })
    if (call < 3) setTimeout(() => socket.disconnect(true), 20)
  }
  const resumes: unknown[] = []
  const disconnects: string[] = []

  const subscription = client().subscribe(
    { status_ids: ['s1'] },
    { onResume: (info) => resumes.push(info), onDisconnect: (reason) => disconnects.push(reason) },
  )
  await until(() => requests.length === 3 && resumes.length === 2, 'subscribed three times')

  expect(requests).toEqual([
    { status_ids: ['s1'] },
    { status_ids: ['s1'], since_seq: 10 },
    { status_ids: ['s1'], since_seq: 25 },
  ])
  expect(resumes).toEqual([
    { since_seq: 10, replayed: 1 },
    { since_seq: 25, replayed: 0 },
  ])
  expect(disconnects).toEqual(['io server disconnect', 'io server disconnect'])
  expect(subscription.lastSeq).toBe(25)
})

test('when the server fails a subscribe with internal-error, then the client tries again after a wait', async () => {
  script = (_socket, _payload, ack, call) =>
    ack(
      call === 1
        ? { ok: false, error: { code: 'internal-error', message: 'Something went wrong on our side' } }
        : { ok: true, subscription_id: 'sub', seq: 3, snapshot: [], replayed: 0 },
    )

  const ack = await client().subscribe({}).ready

  expect(ack).toMatchObject({ ok: true, seq: 3 })
  expect(requests).toHaveLength(2)
})

test('when the server never acknowledges a subscribe, then the client reconnects and subscribes again', async () => {
  const sockets = new Set<string>()
  script = (socket, _payload, ack, call) => {
    sockets.add(socket.id)
    if (call > 1) ack({ ok: true, subscription_id: 'sub', seq: 1, snapshot: [], replayed: 0 })
  }

  const ack = await client({ subscribeAckTimeoutMs: 100 }).subscribe({}).ready

  expect(ack).toMatchObject({ ok: true })
  expect(requests).toHaveLength(2)
  expect(sockets.size).toBe(2)
})

test('when the server refuses a subscribe, then ready rejects with the code, onError is told and the socket is closed', async () => {
  script = (_socket, _payload, ack) =>
    ack({ ok: false, error: { code: 'too-many-subscriptions', message: 'At most 100 subscriptions' } })
  const errors: StatusTrackerError[] = []

  const subscription = client().subscribe({}, { onError: (error) => errors.push(error) })
  const error = await subscription.ready.catch((err: unknown) => err)

  expect(error).toBeInstanceOf(StatusTrackerError)
  expect(error).toMatchObject({
    status: 429,
    code: 'too-many-subscriptions',
    detail: 'At most 100 subscriptions',
  })
  expect(errors).toEqual([error])
  expect(subscription.closed).toBe(true)
  await until(() => !subscription.socket.connected, 'the socket closed')
})
