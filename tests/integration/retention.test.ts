// SPEC §7: the retention purge, run by hand (purgeOnce) against a clock the tests move.
import type { StatusCreate } from '../../src/http/schemas/status'
import {
  expectProblem,
  freshTenantApi,
  statusApi,
  type EventJson,
  type StatusApi,
  type StatusJson,
} from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'
import { until } from '../helpers/wait'
import { webhookApi } from '../helpers/webhook-api'
import { startReceiver } from '../helpers/webhook-receiver'
import { freshTenantName } from '../helpers/tenants'

const DAY = 86_400_000
const T0 = Date.parse('2031-03-01T00:00:00.000Z')
let now = T0
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({
    clock: () => new Date(now),
    // Small batches, so every purge below takes several transactions.
    retention: { terminalDays: 30, failedDays: 60, eventsDays: 7, batchSize: 2 },
    // A failed delivery is dead at once, and due deliveries are looked for often.
    webhooks: { maxAttempts: 1, pollMs: 50 },
  })
})
afterAll(() => t.close())
beforeEach(() => {
  now = T0
})

async function exists(api: StatusApi, id: string): Promise<boolean> {
  const res = await api.get(id)
  expect([200, 404]).toContain(res.status)
  return res.status === 200
}

/** One status in each state, all written at T0. */
async function oneOfEach(api: StatusApi) {
  const make = (status: StatusCreate['status']) => api.createOk({ status })
  return {
    pending: await make('pending'),
    processing: await make('processing'),
    retrying: await make('retry_pending'),
    completed: [await make('completed'), await make('completed'), await make('completed')],
    cancelled: await make('cancelled'),
    failed: await make('failed'),
  }
}

describe('retention purge of statuses', () => {
  test('when terminal statuses are past their days, then only they are purged, failed on its own clock', async () => {
    const api = await freshTenantApi(t, 'retention')
    const s = await oneOfEach(api)
    const live = [s.pending, s.processing, s.retrying]

    now = T0 + 29 * DAY
    await t.services.retention.purgeOnce()
    for (const record of [...live, ...s.completed, s.cancelled, s.failed])
      expect(await exists(api, record.status_id)).toBe(true)

    now = T0 + 31 * DAY
    const first = await t.services.retention.purgeOnce()
    expect(first.statuses).toBeGreaterThanOrEqual(4)
    for (const record of [...s.completed, s.cancelled])
      expect(await exists(api, record.status_id)).toBe(false)
    for (const record of [...live, s.failed]) expect(await exists(api, record.status_id)).toBe(true)

    now = T0 + 61 * DAY
    await t.services.retention.purgeOnce()
    expect(await exists(api, s.failed.status_id)).toBe(false)
    // Non-terminal statuses are never touched, however old.
    for (const record of live) expect(await exists(api, record.status_id)).toBe(true)
  })

  test('when statuses are purged, then no event is written and counts and search forget them', async () => {
    const api = await freshTenantApi(t, 'retention')
    const done = await api.createOk({ status: 'completed', message: 'archived report build' })
    const kept = await api.createOk({ status: 'processing', message: 'archived video' })
    const headBefore = (await api.allEvents()).at(-1)!.seq

    now = T0 + 31 * DAY
    await t.services.retention.purgeOnce()

    // The events of T0 are past 7 days too, so the feed is read from its head.
    const feed = await api.events({ after_seq: headBefore })
    expect(feed.status).toBe(200)
    expect(feed.body.items).toEqual([])
    const stats = await api.stats()
    expect(stats.body).toMatchObject({ total: 1, by_status: { completed: 0, processing: 1 } })
    expect((await api.list('include_total=true&status=completed')).body.total).toBe(0)
    const found = await api.list('q=archived')
    expect(found.body.items.map((r: StatusJson) => r.status_id)).toEqual([kept.status_id])
    expect(done.status_id).not.toBe(kept.status_id)
  })
})

describe('retention purge of events', () => {
  test('when old events are purged, then a reader resuming before the window is told to start again', async () => {
    const api = await freshTenantApi(t, 'retention')
    const job = await api.createOk({ status: 'processing' })
    for (const progress of [10, 20, 30]) await api.updateOk(job.status_id, { progress_percentage: progress })
    const old = await api.allEvents()
    now = T0 + 8 * DAY
    for (const progress of [40, 50]) await api.updateOk(job.status_id, { progress_percentage: progress })

    now = T0 + 8 * DAY + 1000
    const purged = await t.services.retention.purgeOnce()
    expect(purged.events).toBeGreaterThanOrEqual(old.length)

    const after = await api.events({ after_seq: old.at(-1)!.seq, limit: 1000 })
    const kept = after.body.items as EventJson[]
    expect(kept.map((e) => e.seq)).toEqual([old.at(-1)!.seq + 1, old.at(-1)!.seq + 2])
    // History keeps what the window keeps.
    const history = await api.allHistory(job.status_id)
    expect(history.map((e) => e.seq)).toEqual(kept.map((e) => e.seq))

    // Resuming inside the window works; before it, the REST feed answers 410 and a subscription resyncs.
    const inside = await api.events({ after_seq: kept[0]!.seq - 1 })
    expect(inside.status).toBe(200)
    expect(inside.body.items).toHaveLength(2)
    expectProblem(await api.events({ after_seq: 0 }), 410, 'events-expired')

    const tenant = await tenantOf(api)
    const stale = await t.services.eventManager.subscribe(tenant, {
      from: { sinceSeq: 0 },
      match: () => true,
      send: () => true,
    })
    expect(stale.resync).toBe(true)
    const fresh = await t.services.eventManager.subscribe(tenant, {
      from: { sinceSeq: kept[0]!.seq - 1 },
      match: () => true,
      send: () => true,
    })
    expect(fresh).toMatchObject({ resync: false, replayed: 2 })
    fresh.close()
  })

  test('when every event of a tenant is purged, then only a reader at the head can resume', async () => {
    const api = await freshTenantApi(t, 'retention')
    await api.createOk({ status: 'processing' })
    const head = (await api.allEvents()).at(-1)!.seq

    now = T0 + 8 * DAY
    await t.services.retention.purgeOnce()

    expect((await api.events({ after_seq: head })).status).toBe(200)
    expectProblem(await api.events({ after_seq: head - 1 }), 410, 'events-expired')
  })
})

/** The tenant a key belongs to, as the key's own records say. */
async function tenantOf(api: StatusApi): Promise<string> {
  const key = await t.services.apiKeys.authenticate(api.key)
  return key!.tenant_id
}

describe('retention in the background', () => {
  test('when the service runs with an interval, then it purges on its own, and stop() ends it', async () => {
    let clock = T0
    const app = await buildTestApp({
      clock: () => new Date(clock),
      retention: { terminalDays: 1, intervalMs: 20 },
    })
    try {
      const api = await freshTenantApi(app, 'retention-bg')
      const done = await api.createOk({ status: 'completed' })
      clock = T0 + 2 * DAY
      app.services.retention.start()
      await until(
        async () => (await api.get(done.status_id)).status === 404,
        'the completed status is purged',
      )

      await app.services.retention.stop()
      // Stopped, it purges nothing more, even when asked: a status as old as the purged one stays.
      const later = await api.createOk({ status: 'completed' })
      clock = T0 + 4 * DAY
      expect(await app.services.retention.purgeOnce()).toEqual({ statuses: 0, events: 0, deliveries: 0 })
      expect((await api.get(later.status_id)).status).toBe(200)
    } finally {
      await app.close()
    }
  })
})

describe('retention purge of webhook deliveries', () => {
  test('when events are purged, then their delivered and dead deliveries go too, and later ones stay', async () => {
    const key = await t.makeKey(freshTenantName('retention-hooks'), ['admin'])
    const api = statusApi(t, key)
    const hooks = webhookApi(t, key)
    const fine = await startReceiver(() => 200)
    const failing = await startReceiver(() => 500)
    try {
      const good = await hooks.createOk({ url: fine.url, events: ['status.created'] })
      const bad = await hooks.createOk({ url: failing.url, events: ['status.created'] })
      await api.createOk({})
      await api.createOk({})
      await until(async () => (await hooks.allDeliveries(good.id, 'delivered')).length === 2, 'both sent')
      await until(async () => (await hooks.allDeliveries(bad.id, 'dead')).length === 2, 'both dead')

      // A week later, a third event: the first two fall out of the window, the third is inside it.
      now = T0 + 8 * DAY
      const recent = await api.createOk({})
      await until(async () => (await hooks.allDeliveries(good.id, 'delivered')).length === 3, 'third sent')
      await until(async () => (await hooks.allDeliveries(bad.id, 'dead')).length === 3, 'third dead')

      const before = await t.prisma.webhookDelivery.findMany({
        where: { webhookId: { in: [good.id, bad.id] } },
      })
      const result = await t.services.retention.purgeOnce()

      // The tenant's events were seq 1, 2 (purged) and 3 (kept).
      const keptSeq = 3
      const feed = await api.events({ after_seq: keptSeq - 1 })
      expect(feed.body.items.map((e: EventJson) => [e.seq, e.status_id])).toEqual([
        [keptSeq, recent.status_id],
      ])
      expect(result.deliveries).toBe(4)
      for (const webhook of [good, bad]) {
        const left = await hooks.allDeliveries(webhook.id)
        expect(left.map((d) => d.seq)).toEqual([keptSeq])
      }
      // Their attempts went with them; the remaining deliveries keep theirs.
      const purged = before.filter((d) => d.seq !== BigInt(keptSeq)).map((d) => d.id)
      const kept = before.filter((d) => d.seq === BigInt(keptSeq)).map((d) => d.id)
      expect(purged).toHaveLength(4)
      expect(await t.prisma.webhookAttempt.count({ where: { deliveryId: { in: purged } } })).toBe(0)
      expect(await t.prisma.webhookAttempt.count({ where: { deliveryId: { in: kept } } })).toBe(2)
    } finally {
      await fine.close()
      await failing.close()
    }
  })
})
