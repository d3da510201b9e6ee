import { createServer, type Server as HttpServer } from 'node:http'
import { Server, type Socket } from 'socket.io'
import { createStatusTrackerClient, StatusTrackerError, type StatusEvent } from '../../src/client'
import { until } from '../helpers/wait'
import { listenOnLoopback } from '../helpers/listen'

// The real service never sends an event twice to one connection, nor fails a subscribe at random: a
// Socket.IO server playing its part by script shows what the client does when that happens anyway.

type Ack = (answer: unknown) => void
type Script = (socket: Socket, payload: Record<string, unknown>, ack: Ack, call: number) => void

let http: HttpServer
let io: Server
let baseUrl: string
let script: Script
let requests: Record<string, unknown>[]
let unsubscribes: unknown[]
/** The socket each subscribe came on, in order. */
let sockets: string[]
const clients: ReturnType<typeof createStatusTrackerClient>[] = []

beforeAll(async () => {
  http = createServer()
  io = new Server(http)
  io.of('/status').on('connection', (socket) => {
    socket.on('subscribe', (payload: Record<string, unknown>, ack: Ack) => {
      requests.push(payload)
      sockets.push(socket.id)
      script(socket, payload, ack, requests.length)
    })
    socket.on('unsubscribe', (payload: unknown, ack?: Ack) => {
      unsubscribes.push(payload)
      ack?.({ ok: true })
    })
  })
  baseUrl = (await listenOnLoopback(http)).url
})
beforeEach(() => {
  requests = []
  unsubscribes = []
  sockets = []
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

test('when the selection is changed, then the old subscription is dropped and the new one starts from a snapshot on the same connection, and later resumes from its own seq', async () => {
  script = (socket, payload, ack, call) => {
    if (call === 1) ack({ ok: true, subscription_id: 'old', seq: 5, snapshot: [], replayed: 0 })
    if (call === 2) {
      // An event of the old selection, still on its way when the new subscribe is answered.
      socket.emit('status.event', event(6))
      ack({ ok: true, subscription_id: 'new', seq: 7, snapshot: [], replayed: 0 })
      socket.emit('status.event', event(8))
      setTimeout(() => socket.disconnect(true), 20)
    }
    if (call === 3) ack({ ok: true, subscription_id: 'again', seq: payload.since_seq, replayed: 0 })
  }
  const snapshots: number[] = []
  const seqs: number[] = []
  const resumes: unknown[] = []
  const subscription = client().subscribe(
    { filter: { kind: 'a' } },
    {
      onSnapshot: (_s, seq) => snapshots.push(seq),
      onEvent: (e) => seqs.push(e.seq),
      onResume: (info) => resumes.push(info),
    },
  )
  await subscription.ready

  const ack = await subscription.change({ filter: { kind: 'b' }, snapshot_limit: 1 })
  await until(() => resumes.length === 1, 'resumed after the server hung up')

  expect(ack).toMatchObject({ subscription_id: 'new', seq: 7 })
  expect(requests).toEqual([
    { filter: { kind: 'a' } },
    { filter: { kind: 'b' }, snapshot_limit: 1 },
    { filter: { kind: 'b' }, snapshot_limit: 1, since_seq: 8 },
  ])
  expect(sockets[1]).toBe(sockets[0])
  expect(unsubscribes).toEqual([{ subscription_id: 'old' }])
  expect(snapshots).toEqual([5, 7])
  expect(seqs).toEqual([8])
  expect(resumes).toEqual([{ since_seq: 8, replayed: 0 }])
})

test('when the selection is changed before the first subscribe is answered, then that answer is dropped and unsubscribed, and ready resolves with the new one', async () => {
  let answerFirst: Ack | undefined
  script = (socket, _payload, ack, call) => {
    if (call === 1) answerFirst = ack
    if (call === 2) {
      ack({ ok: true, subscription_id: 'second', seq: 4, snapshot: [], replayed: 0 })
      socket.emit('status.event', event(5))
    }
  }
  const snapshots: number[] = []
  const seqs: number[] = []
  const subscription = client().subscribe(
    { filter: { kind: 'a' } },
    { onSnapshot: (_s, seq) => snapshots.push(seq), onEvent: (e) => seqs.push(e.seq) },
  )
  await until(() => answerFirst !== undefined, 'the first subscribe arrived')

  const changed = subscription.change({ filter: { kind: 'b' } })
  answerFirst!({ ok: true, subscription_id: 'first', seq: 3, snapshot: [], replayed: 0 })
  const [ready, ack] = await Promise.all([subscription.ready, changed])
  await until(() => seqs.length === 1, 'the event after the new ack arrived')

  expect(ready).toBe(ack)
  expect(ack).toMatchObject({ subscription_id: 'second' })
  expect(requests).toEqual([{ filter: { kind: 'a' } }, { filter: { kind: 'b' } }])
  expect(unsubscribes).toEqual([{ subscription_id: 'first' }])
  expect(snapshots).toEqual([4])
  expect(seqs).toEqual([5])
})

test('when a closed subscription is changed, then change rejects and nothing is sent', async () => {
  script = (_socket, _payload, ack) =>
    ack({ ok: true, subscription_id: 's', seq: 1, snapshot: [], replayed: 0 })
  const subscription = client().subscribe({})
  await subscription.ready
  await subscription.close()

  await expect(subscription.change({ filter: { kind: 'b' } })).rejects.toThrow('closed')
  expect(requests).toHaveLength(1)
})
