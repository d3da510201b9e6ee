import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { openDatabase, type Database } from '../../src/db/prisma'
import { createServices, type ServiceOptions, type Services } from '../../src/services'
import { until } from '../helpers/wait'
import { startReceiver, type Receiver } from '../helpers/webhook-receiver'

jest.setTimeout(60_000)

let dir: string
let cleanups: (() => Promise<void>)[] = []
const receivers: Receiver[] = []

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-webhooks-'))
})

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()))
  const pending = cleanups.reverse()
  cleanups = []
  for (const cleanup of pending) await cleanup()
  rmSync(dir, { recursive: true, force: true })
})

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const started = await startReceiver(...args)
  receivers.push(started)
  return started
}

interface Instance {
  db: Database
  services: Services
  /** Shuts down as server.ts does: updater, event manager (last enqueue), dispatcher, database. */
  stop(): Promise<void>
}

/**
 * Services over the test's database file, as one server process would run them. With `db`, they share
 * that handle (closed by its opener): in one process, a second SQLite connection waiting for the write
 * lock would block the event loop, and with it the holder.
 */
async function open(
  options: { start?: boolean; webhooks?: ServiceOptions['webhooks']; db?: Database } = {},
): Promise<Instance> {
  const db = options.db ?? (await openDatabase({ url: `file:${path.join(dir, 'webhooks.db')}` }))
  const services = await createServices({
    db,
    webhooks: { pollMs: 50, backoffBaseMs: 20, maxAttempts: 100, ...options.webhooks },
  })
  if (options.start !== false) await services.start()
  const stop = () => services.stop({ keepStore: options.db !== undefined })
  cleanups.push(stop)
  return { db, services, stop }
}

const TENANT = 'acme'

async function deliveriesOf(services: Services, webhookId: string, state?: 'pending' | 'delivered' | 'dead') {
  return (await services.webhooks.deliveries(TENANT, webhookId, { state, limit: 500 })).items
}

async function createStatuses(services: Services, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) await services.statuses.create(TENANT, { status_id: `job-${n}` })
}

test('when deliveries are still pending at shutdown, then a restart on the same file delivers them', async () => {
  const inbox = await receiver(() => 503)
  const first = await open()
  await first.services.apiKeys.create(TENANT, ['admin'])
  const hook = await first.services.webhooks.create(TENANT, { url: inbox.url })
  await createStatuses(first.services, 3)
  await until(() => new Set(inbox.eventIds()).size === 3, 'each event was attempted and refused')

  await first.stop()
  inbox.reply(() => 200)
  const second = await open()

  await until(
    async () => (await deliveriesOf(second.services, hook.id, 'delivered')).length === 3,
    'delivered',
  )
  const deliveries = await deliveriesOf(second.services, hook.id)
  expect(deliveries.map((d) => d.seq).sort()).toEqual([1, 2, 3])
  expect(deliveries.every((d) => d.attempts >= 2 && d.last_error === 'HTTP 503')).toBe(true)
})

test('when events were committed but never handed to the webhooks sink, then a restart enqueues and delivers each once', async () => {
  const inbox = await receiver()
  // As if the process died between the commits and the event manager's first look at them.
  const first = await open({ start: false })
  await first.services.apiKeys.create(TENANT, ['admin'])
  const hook = await first.services.webhooks.create(TENANT, { url: inbox.url })
  await createStatuses(first.services, 2)
  await first.stop()
  expect(inbox.received).toHaveLength(0)

  const second = await open()

  await until(
    async () => (await deliveriesOf(second.services, hook.id, 'delivered')).length === 2,
    'delivered',
  )
  const feed = await second.services.statuses.feed(TENANT, { afterSeq: 0, limit: 100 })
  expect(inbox.eventIds().sort()).toEqual(feed.items.map((event) => event.event_id).sort())
})

test('when the dispatcher holding a delivery goes silent, then another takes it over once the lease runs out', async () => {
  const inbox = await receiver((n) => (n === 1 ? 'hang' : 200))
  const first = await open({ webhooks: { leaseMs: 200, timeoutMs: 30_000 } })
  await first.services.apiKeys.create(TENANT, ['admin'])
  const hook = await first.services.webhooks.create(TENANT, { url: inbox.url })
  await createStatuses(first.services, 1)
  await until(() => inbox.held() === 1, 'the first dispatcher’s request is on the wire')

  // A second instance on the same file: the first still holds its request, but its lease has run out.
  const second = await open()

  await until(
    async () => (await deliveriesOf(second.services, hook.id, 'delivered')).length === 1,
    'taken over',
  )
  expect(inbox.received.map((r) => r.headers['x-delivery-id'])).toEqual([
    inbox.received[0]!.headers['x-delivery-id'],
    inbox.received[0]!.headers['x-delivery-id'],
  ])
  // The first one's late answer no longer counts: the delivery stays delivered with the second's attempt.
  inbox.release(200)
  await first.stop()
  expect(await deliveriesOf(second.services, hook.id)).toEqual([
    expect.objectContaining({ state: 'delivered', attempts: 1 }),
  ])
})

test('when a webhook is created through one instance while another relays the tenant, then it receives every event after its creation', async () => {
  const [earlier, later] = [await receiver(), await receiver()]
  const a = await open()
  await a.services.apiKeys.create(TENANT, ['admin'])
  await a.services.webhooks.create(TENANT, { url: earlier.url })
  await createStatuses(a.services, 1)
  await until(() => earlier.received.length === 1, 'A relayed the first event')

  // B's webhook is news to A, which holds the relay lease and knows the tenant's webhooks from before.
  const b = await open({ db: a.db })
  const hook = await b.services.webhooks.create(TENANT, { url: later.url })
  for (const n of [2, 3, 4]) await b.services.statuses.create(TENANT, { status_id: `job-${n}` })

  await until(() => later.received.length === 3, 'the new webhook received the three later events')
  expect((await deliveriesOf(b.services, hook.id)).map((d) => d.seq).sort()).toEqual([2, 3, 4])
  await until(() => earlier.received.length === 4, 'the first webhook received all four')
  expect((await a.services.eventManager.stats()).leases).toBe(1)
  expect((await b.services.eventManager.stats()).leases).toBe(0)
})
