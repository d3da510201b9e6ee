import fc from 'fast-check'
import { io, type Socket as ClientSocket } from 'socket.io-client'
import { loadConfig } from '../../src/config'
import { openDatabase } from '../../src/db/prisma'
import { startServer } from '../../src/server'
import { createServices } from '../../src/services'
import type { EventJson } from '../helpers/status-api'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'

// The socket protocol's inputs, fuzzed as the HTTP API's are (tests/integration/fuzz.test.ts): whatever
// a client emits, the answer is an ack (ok, or a problem that is the client's, never internal-error), the
// connection stays up, and the tenant's feed is untouched; a valid subscribe afterwards still gets
// the next event live, which proves the socket still works.

jest.setTimeout(120_000)

const runs = Number(process.env.FUZZ_RUNS ?? 25)
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

type Server = Awaited<ReturnType<typeof startServer>>
let store: TestDatabase
let server: Server
let key: string
let socket: ClientSocket

beforeAll(async () => {
  store = await createTestDatabase('socket-fuzz')
  const seeding = await openDatabase({ url: store.url })
  await (await createServices({ db: seeding })).apiKeys.create('default', ['admin'])
  await seeding.close()
  server = await startServer(
    loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: store.url, LOG_LEVEL: 'silent' }),
  )
  key = (await server.services.apiKeys.create('socket-fuzz', ['status:read', 'status:write'])).secret
  socket = io(`http://127.0.0.1:${server.port}/status`, { auth: { token: key }, transports: ['websocket'] })
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject))
})

afterAll(async () => {
  socket?.disconnect()
  await server?.stop()
  await store?.drop()
})

const call = async (method: string, route: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${server.port}${route}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const feedHead = async () => {
  const { body } = await call('GET', '/api/events?after_seq=0&limit=1000')
  return (body.items as EventJson[]).at(-1)?.seq ?? 0
}

const deep = (depth: number) => {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { filter: value }
  // Named in a failure's report: fast-check would print the value itself and overflow the stack doing
  // so, hiding the failure. (Symbol keys are not sent: Socket.IO encodes payloads as JSON.)
  return Object.assign(value as object, { [fc.toStringMethod]: () => `deep(${depth})` })
}

/** Payloads no valid client sends: wrong shapes and types, huge and odd numbers, odd strings, depth. */
const hostile = fc.oneof(
  fc.anything({ maxDepth: 4 }),
  fc.record(
    {
      status_ids: fc.oneof(fc.anything(), fc.array(fc.string({ unit: 'binary' }), { maxLength: 3 })),
      filter: fc.oneof(
        fc.anything(),
        fc.record({ kind: fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.anything()) }),
      ),
      since_seq: fc.oneof(
        fc.constantFrom(1e20, 2 ** 63, -1, 0.5, Number.MAX_SAFE_INTEGER, 1e308, -0),
        fc.anything(),
      ),
      snapshot_limit: fc.oneof(fc.integer(), fc.double(), fc.anything()),
      extra: fc.anything(),
    },
    { requiredKeys: [] },
  ),
  fc.integer({ min: 100, max: 3000 }).map(deep),
)

interface Ack {
  ok: boolean
  subscription_id?: string
  error?: { code: string }
}

const emit = (event: string, payload: unknown) =>
  socket.timeout(10_000).emitWithAck(event, payload) as Promise<Ack>

test('when a client emits hostile subscribe and unsubscribe payloads, then each is acked with a client problem or ok, and the socket still works', async () => {
  const head = await feedHead()

  await fc.assert(
    fc.asyncProperty(hostile, fc.constantFrom('subscribe', 'unsubscribe'), async (payload, event) => {
      const ack = await emit(event, payload)

      expect(socket.connected).toBe(true)
      if (!ack.ok) expect(ack.error?.code).not.toBe('internal-error')
      if (ack.ok && ack.subscription_id) await emit('unsubscribe', { subscription_id: ack.subscription_id })
    }),
    { numRuns: runs, ...(seed !== undefined && { seed }) },
  )

  expect(await feedHead()).toBe(head)
  const live = await emit('subscribe', {})
  expect(live.ok).toBe(true)
  const next = new Promise<EventJson>((resolve) => socket.once('status.event', resolve))
  expect((await call('POST', '/api/status', { status_id: 'after-the-fuzz' })).status).toBe(201)
  expect(await next).toMatchObject({ type: 'status.created', status_id: 'after-the-fuzz', seq: head + 1 })
})
