import { createHmac } from 'node:crypto'
import { expectProblem, expectValidationError, RFC3339_UTC, statusApi, UUID } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp, type TestAppOptions } from '../helpers/test-app'
import { until } from '../helpers/wait'
import { webhookApi, type DeliveryJson } from '../helpers/webhook-api'
import { startReceiver, type Receiver } from '../helpers/webhook-receiver'
import { freshTenantName } from '../helpers/tenants'

jest.setTimeout(60_000)

const apps: TestApp[] = []
const receivers: Receiver[] = []

afterEach(async () => {
  // Receivers first: a held request is answered, so the dispatcher's stop() need not wait for a timeout.
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()))
})
afterAll(async () => {
  for (const app of apps.splice(0)) await app.close()
})

async function appWith(webhooks: TestAppOptions['webhooks']): Promise<TestApp> {
  const app = await buildTestApp({ webhooks: { pollMs: 50, ...webhooks } })
  apps.push(app)
  return app
}

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const started = await startReceiver(...args)
  receivers.push(started)
  return started
}

/** An admin key in a tenant of its own, with the status and webhook routes as it sees them. */
async function newTenant(t: TestApp) {
  const name = freshTenantName('hooks')
  const key = await t.makeKey(name, ['admin'])
  return { name, key, statuses: statusApi(t, key), hooks: webhookApi(t, key) }
}

const sign = (secret: string, raw: Buffer) =>
  `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`

/** Attempt rows of a delivery, as stored. */
const attemptsOf = (t: TestApp, deliveryId: string) =>
  t.prisma.webhookAttempt.findMany({ where: { deliveryId }, orderBy: { attempt: 'asc' } })

describe('managing webhooks', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await appWith({})
  })

  test('when an admin creates a webhook without a secret, then 201 returns it with a generated secret and a Location', async () => {
    const { hooks } = await newTenant(t)

    const res = await hooks.create({ url: 'https://example.com/hooks' })

    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID),
      url: 'https://example.com/hooks',
      events: [
        'status.created',
        'status.updated',
        'status.progress',
        'status.error',
        'status.cancelled',
        'status.deleted',
      ],
      created_at: expect.stringMatching(RFC3339_UTC),
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{32}$/),
    })
    expect(res.headers.location).toBe(`/api/webhooks/${res.body.id}`)
  })

  test('when a secret and events are given, then they are kept (events once each) and the secret is echoed once', async () => {
    const { hooks } = await newTenant(t)
    const secret = 'my-own-secret-0123456789'

    const created = await hooks.createOk({
      url: 'http://127.0.0.1:9/in',
      events: ['status.cancelled', 'status.error', 'status.cancelled'],
      secret,
    })

    expect(created).toMatchObject({ events: ['status.cancelled', 'status.error'], secret })
    const read = await hooks.get(created.id)
    expect(read.status).toBe(200)
    expect(read.body).toEqual({
      id: created.id,
      url: created.url,
      events: created.events,
      created_at: created.created_at,
    })
  })

  test('when webhooks are listed, then the tenant’s own appear oldest first without their secrets', async () => {
    const { hooks } = await newTenant(t)
    const other = await newTenant(t)
    const first = await hooks.createOk({ url: 'https://a.example.com/' })
    const second = await hooks.createOk({ url: 'https://b.example.com/' })
    await other.hooks.createOk({ url: 'https://c.example.com/' })

    const res = await hooks.list()

    expect(res.status).toBe(200)
    expect(res.body.items.map((hook: { id: string }) => hook.id)).toEqual([first.id, second.id])
    for (const item of res.body.items)
      expect(Object.keys(item).sort()).toEqual(['created_at', 'events', 'id', 'url'])
    expect(res.text).not.toContain(first.secret)
    expect(res.text).not.toContain(second.secret)
  })

  test('when a webhook is deleted, then 204, it is gone, and deleting it again is 404', async () => {
    const { hooks } = await newTenant(t)
    const { id } = await hooks.createOk({ url: 'https://example.com/' })

    const res = await hooks.remove(id)

    expect(res.status).toBe(204)
    expect(res.text).toBe('')
    expectProblem(await hooks.get(id), 404, 'webhook-not-found')
    expectProblem(await hooks.remove(id), 404, 'webhook-not-found')
    expect((await hooks.list()).body.items).toEqual([])
  })

  test('when a key lacks the admin scope, then every webhook route is 403; without a key, 401', async () => {
    const { hooks } = await newTenant(t)
    const { id } = await hooks.createOk({ url: 'https://example.com/' })
    const writer = bearer(await t.makeKey('default', ['status:read', 'status:write']))
    const delivery = '00000000-0000-7000-8000-000000000000'

    const answers = await Promise.all([
      t.request.post('/api/webhooks').set(writer).send({ url: 'https://example.com/' }),
      t.request.get('/api/webhooks').set(writer),
      t.request.get(`/api/webhooks/${id}`).set(writer),
      t.request.delete(`/api/webhooks/${id}`).set(writer),
      t.request.get(`/api/webhooks/${id}/deliveries`).set(writer),
      t.request.post(`/api/webhooks/${id}/deliveries/${delivery}/retry`).set(writer),
    ])

    for (const res of answers) expectProblem(res, 403, 'insufficient-scope', { required_scope: 'admin' })
    expectProblem(await t.request.get('/api/webhooks'), 401, 'unauthenticated')
    expect((await hooks.get(id)).status).toBe(200)
  })

  test.each([
    ['no url', {}, 'url'],
    ['a url that is not a string', { url: 42 }, 'url'],
    ['a url that is not a URL', { url: 'not a url' }, 'url'],
    ['an ftp url', { url: 'ftp://example.com/hooks' }, 'url'],
    ['a relative url', { url: '/hooks' }, 'url'],
    ['a url over 2048 characters', { url: `https://example.com/${'a'.repeat(2048)}` }, 'url'],
    ['an unknown event type', { url: 'https://example.com/', events: ['status.exploded'] }, 'events.0'],
    ['an empty events list', { url: 'https://example.com/', events: [] }, 'events'],
    ['events as a string', { url: 'https://example.com/', events: 'status.created' }, 'events'],
    ['a secret under 16 characters', { url: 'https://example.com/', secret: 'short' }, 'secret'],
    ['a secret with spaces', { url: 'https://example.com/', secret: 'a secret with spaces' }, 'secret'],
    ['a secret that is not a string', { url: 'https://example.com/', secret: 1234567890123456 }, 'secret'],
    ['an unknown field', { url: 'https://example.com/', active: true }, ''],
    ['an array body', [{ url: 'https://example.com/' }], ''],
  ])(
    'when the body has %s, then 400 validation-failed and no webhook is created',
    async (_what, body, path) => {
      const { hooks } = await newTenant(t)

      const res = await hooks.create(body)

      expectValidationError(res, path)
      expect((await hooks.list()).body.items).toEqual([])
    },
  )

  test('when the body is not JSON, then 400 malformed-json and no webhook is created', async () => {
    const { key, hooks } = await newTenant(t)

    const res = await t.request
      .post('/api/webhooks')
      .set(bearer(key))
      .set('Content-Type', 'application/json')
      .send('{"url": ')

    expectProblem(res, 400, 'malformed-json')
    expect((await hooks.list()).body.items).toEqual([])
  })

  test.each([
    ['GET', ''],
    ['DELETE', ''],
    ['GET', '/deliveries'],
  ])('when %s /api/webhooks/:id%s has a malformed id, then 400 naming id', async (method, rest) => {
    const { key } = await newTenant(t)
    const url = `/api/webhooks/not-a-webhook${rest}`

    const res = await (method === 'GET' ? t.request.get(url) : t.request.delete(url)).set(bearer(key))

    expectValidationError(res, 'id')
  })

  test('when another tenant names a webhook, then every route answers 404 and the webhook is untouched', async () => {
    const owner = await newTenant(t)
    const stranger = await newTenant(t)
    const { id } = await owner.hooks.createOk({ url: 'https://example.com/' })
    const delivery = '00000000-0000-7000-8000-000000000000'

    expectProblem(await stranger.hooks.get(id), 404, 'webhook-not-found')
    expectProblem(await stranger.hooks.remove(id), 404, 'webhook-not-found')
    expectProblem(await stranger.hooks.deliveries(id), 404, 'webhook-not-found')
    expectProblem(await stranger.hooks.retry(id, delivery), 404, 'webhook-not-found')
    expect((await stranger.hooks.list()).body.items).toEqual([])
    expect((await owner.hooks.get(id)).status).toBe(200)
  })
})

describe('delivering events', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await appWith({ backoffBaseMs: 20, maxAttempts: 4, timeoutMs: 10_000, perWebhook: 2 })
  })

  test('when a status changes, then the receiver gets the event as the feed serves it, signed with the secret from the 201', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver()
    const { id, secret } = await hooks.createOk({ url: inbox.url })

    const status = await statuses.createOk()
    await until(() => inbox.received.length === 1, 'the receiver got the event')

    const [request] = inbox.received
    const [event] = await statuses.allEvents()
    expect(request!.raw.toString('utf8')).toBe(JSON.stringify(event))
    expect(request!.event).toMatchObject({ type: 'status.created', status_id: status.status_id, seq: 1 })
    expect(request!.headers['x-signature']).toBe(sign(secret, request!.raw))
    expect(request!.headers['x-signature']).not.toBe(sign(`${secret}x`, request!.raw))
    expect(request!.method).toBe('POST')
    expect(request!.headers['content-type']).toBe('application/json')
    expect(request!.headers['x-event-id']).toBe(event!.event_id)
    expect(request!.headers['x-event-type']).toBe('status.created')
    await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 1, 'it is recorded')
    const [delivery] = await hooks.allDeliveries(id)
    expect(request!.headers['x-delivery-id']).toBe(delivery!.id)
    expect(delivery).toEqual({
      id: expect.stringMatching(UUID),
      webhook_id: id,
      event_id: event!.event_id,
      event_type: 'status.created',
      seq: 1,
      state: 'delivered',
      attempts: 1,
      last_error: null,
      next_attempt_at: null,
      last_attempt_at: expect.stringMatching(RFC3339_UTC),
      created_at: expect.stringMatching(RFC3339_UTC),
    })
  })

  test('when a webhook lists event types, then it receives only those', async () => {
    const { statuses, hooks } = await newTenant(t)
    const everything = await receiver()
    const cancellations = await receiver()
    await hooks.createOk({ url: everything.url })
    const filtered = await hooks.createOk({ url: cancellations.url, events: ['status.cancelled'] })

    const { status_id } = await statuses.createOk()
    await statuses.updateOk(status_id, { new_status: 'processing', progress_percentage: 10 })
    await statuses.updateOk(status_id, { progress_percentage: 20 })
    expect((await statuses.cancel(status_id)).status).toBe(200)
    await until(() => everything.received.length === 4, 'every event reached the unfiltered webhook')
    await until(() => cancellations.received.length === 1, 'the cancellation reached the filtered one')

    expect(cancellations.received[0]!.event.type).toBe('status.cancelled')
    expect((await hooks.allDeliveries(filtered.id)).map((d) => d.event_type)).toEqual(['status.cancelled'])
  })

  test('when a webhook is created after some events, then it receives only the later ones', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver()
    const { status_id } = await statuses.createOk()
    await statuses.updateOk(status_id, { new_status: 'processing' })

    const { id } = await hooks.createOk({ url: inbox.url })
    await statuses.updateOk(status_id, { progress_percentage: 50 })
    await until(() => inbox.received.length >= 1, 'the later event arrived')

    const later = (await statuses.allEvents()).filter((event) => event.seq > 2)
    await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 1, 'delivered')
    expect(inbox.eventIds()).toEqual(later.map((event) => event.event_id))
    expect((await hooks.allDeliveries(id)).map((d) => d.seq)).toEqual([3])
  })

  test('when two tenants have webhooks, then each receives only its own tenant’s events', async () => {
    const a = await newTenant(t)
    const b = await newTenant(t)
    const inboxA = await receiver()
    const inboxB = await receiver()
    const hookA = await a.hooks.createOk({ url: inboxA.url })
    await b.hooks.createOk({ url: inboxB.url })

    await a.statuses.createOk()
    await b.statuses.createOk()
    await b.statuses.createOk()
    await a.statuses.createOk()
    await until(() => inboxA.received.length === 2 && inboxB.received.length === 2, 'both got their events')

    expect(inboxA.eventIds().sort()).toEqual((await a.statuses.allEvents()).map((e) => e.event_id).sort())
    expect(inboxB.eventIds().sort()).toEqual((await b.statuses.allEvents()).map((e) => e.event_id).sort())
    expectProblem(await b.hooks.deliveries(hookA.id), 404, 'webhook-not-found')
  })

  test('when a receiver fails twice, then the delivery is retried with growing waits and delivered on the third attempt', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver((n) => (n <= 2 ? 500 : 204))
    const { id } = await hooks.createOk({ url: inbox.url })

    await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 1, 'delivered in the end')

    const [delivery] = await hooks.allDeliveries(id)
    expect(delivery).toMatchObject({
      state: 'delivered',
      attempts: 3,
      last_error: 'HTTP 500',
      next_attempt_at: null,
    })
    expect(new Set(inbox.received.map((r) => r.headers['x-delivery-id']))).toEqual(new Set([delivery!.id]))
    const attempts = await attemptsOf(t, delivery!.id)
    expect(attempts.map(({ attempt, statusCode, error }) => ({ attempt, statusCode, error }))).toEqual([
      { attempt: 1, statusCode: 500, error: 'HTTP 500' },
      { attempt: 2, statusCode: 500, error: 'HTTP 500' },
      { attempt: 3, statusCode: 204, error: null },
    ])
    // Never sooner than half the nominal wait (equal jitter): 20 ms after the first failure, 40 after the second.
    const at = attempts.map((a) => a.attemptedAt.getTime())
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(10)
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(20)
  })

  test('when every attempt fails, then after the last one the delivery is dead and listed under state=dead', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver(() => 503)
    const { id } = await hooks.createOk({ url: inbox.url })

    await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'dead')).length === 1, 'dead-lettered')

    const [dead] = await hooks.allDeliveries(id, 'dead')
    expect(dead).toMatchObject({ state: 'dead', attempts: 4, last_error: 'HTTP 503', next_attempt_at: null })
    expect(await hooks.allDeliveries(id, 'pending')).toEqual([])
    expect(inbox.received).toHaveLength(4)
    expect((await attemptsOf(t, dead!.id)).map((a) => a.statusCode)).toEqual([503, 503, 503, 503])
  })

  test('when a receiver redirects, then it is a failed attempt', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver((n) => (n === 1 ? 307 : 200))
    const { id } = await hooks.createOk({ url: inbox.url })

    await statuses.createOk()
    await until(
      async () => (await hooks.allDeliveries(id, 'delivered')).length === 1,
      'delivered on the retry',
    )

    const [delivery] = await hooks.allDeliveries(id)
    expect(delivery).toMatchObject({ attempts: 2, last_error: 'HTTP 307' })
  })

  test('when an event is no longer stored by the time of a retry, then the delivery is dead without another request', async () => {
    const { name, statuses, hooks } = await newTenant(t)
    const inbox = await receiver(() => 'hang')
    const { id } = await hooks.createOk({ url: inbox.url })
    await statuses.createOk()
    await until(() => inbox.held() === 1, 'the first attempt is on the wire')

    await t.db.write((tx) => tx.$executeRaw`DELETE FROM status_events WHERE tenant_id = ${name}`)
    inbox.release(500)
    await until(async () => (await hooks.allDeliveries(id, 'dead')).length === 1, 'dead')

    expect((await hooks.allDeliveries(id))[0]).toMatchObject({
      attempts: 2,
      last_error: 'the event is no longer stored',
    })
    expect(inbox.received).toHaveLength(1)
  })

  test('when a dead delivery is retried by hand, then it is sent again and becomes delivered', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver(() => 500)
    const { id } = await hooks.createOk({ url: inbox.url })
    await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'dead')).length === 1, 'dead')
    const [dead] = await hooks.allDeliveries(id)
    inbox.reply(() => 200)

    const res = await hooks.retry(id, dead!.id)

    expect(res.status).toBe(202)
    expect(res.body).toMatchObject({ id: dead!.id, webhook_id: id, event_id: dead!.event_id })
    // Answered as requeued; the dispatcher may already have sent it by the time the answer is read.
    expect(['pending', 'delivered']).toContain(res.body.state)
    await until(
      async () => (await hooks.allDeliveries(id, 'delivered')).length === 1,
      'delivered after the retry',
    )
    expect((await hooks.allDeliveries(id))[0]).toMatchObject({ state: 'delivered', attempts: 5 })
    expect(inbox.received).toHaveLength(5)
    expect(inbox.received[4]!.headers['x-delivery-id']).toBe(dead!.id)
  })

  test('when a delivered delivery is retried by hand and the one attempt fails, then it is dead at once', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver()
    const { id } = await hooks.createOk({ url: inbox.url })
    await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 1, 'delivered')
    const [delivered] = await hooks.allDeliveries(id)
    inbox.reply(() => 500)

    expect((await hooks.retry(id, delivered!.id)).status).toBe(202)
    await until(async () => (await hooks.allDeliveries(id, 'dead')).length === 1, 'dead after one attempt')

    expect((await hooks.allDeliveries(id))[0]).toMatchObject({
      state: 'dead',
      attempts: 2,
      last_error: 'HTTP 500',
    })
    expect(inbox.received).toHaveLength(2)
  })

  test('when a retry names a pending, unknown or malformed delivery, then 409, 404 or 400, and nothing changes', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver(() => 'hang')
    const { id } = await hooks.createOk({ url: inbox.url })
    await statuses.createOk()
    await until(() => inbox.held() === 1, 'the delivery is on the wire')
    const [pending] = await hooks.allDeliveries(id)

    expectProblem(await hooks.retry(id, pending!.id), 409, 'delivery-pending')
    expectProblem(await hooks.retry(id, '00000000-0000-7000-8000-000000000000'), 404, 'delivery-not-found')
    expectValidationError(await hooks.retry(id, 'nope'), 'delivery_id')
    expectValidationError(await hooks.retry('nope', pending!.id), 'id')

    expect(await hooks.allDeliveries(id)).toEqual([pending])
    inbox.release(200)
    await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 1, 'delivered')
    expect(inbox.received).toHaveLength(1)
  })

  test('when a webhook is deleted while its deliveries are being retried, then they stop, and a webhook failing alongside goes on', async () => {
    const { statuses, hooks } = await newTenant(t)
    const doomed = await receiver(() => 500)
    const twin = await receiver(() => 500)
    const victim = await hooks.createOk({ url: doomed.url })
    const sibling = await hooks.createOk({ url: twin.url })
    await statuses.createOk()
    await until(() => doomed.received.length >= 2, 'the doomed webhook is being retried')

    expect((await hooks.remove(victim.id)).status).toBe(204)
    const seen = doomed.received.length
    await statuses.createOk()
    // The twin, on the same schedule for the same event, runs through all four attempts meanwhile.
    await until(async () => (await hooks.allDeliveries(sibling.id, 'dead')).length === 2, 'the twin gave up')

    expect(await t.prisma.webhookDelivery.count({ where: { webhookId: victim.id } })).toBe(0)
    // At most the one attempt that was on the wire when it was deleted, and nothing of the new event.
    expect(doomed.received.length).toBeLessThanOrEqual(seen + 1)
    expect(doomed.received.every((r) => r.event.seq === 1)).toBe(true)
  })

  test('when one receiver hangs, then another webhook’s deliveries all arrive while its requests are still held', async () => {
    const { statuses, hooks } = await newTenant(t)
    const stuck = await receiver(() => 'hang')
    const healthy = await receiver()
    const stuckHook = await hooks.createOk({ url: stuck.url })
    const healthyHook = await hooks.createOk({ url: healthy.url })

    for (let n = 0; n < 6; n++) await statuses.createOk()
    await until(() => healthy.received.length === 6, 'the healthy receiver got all six')
    await until(() => stuck.held() === 2, 'the hanging receiver holds two requests')

    // The hanging webhook holds its own two slots and no more, and none of them has been answered.
    expect(stuck.received).toHaveLength(2)
    const healthyDone = Math.max(...healthy.received.map((r) => r.answeredAt!))
    expect(stuck.received.every((r) => r.answeredAt === undefined)).toBe(true)
    await until(async () => (await hooks.allDeliveries(healthyHook.id, 'delivered')).length === 6, 'recorded')

    stuck.reply(() => 200)
    stuck.release(200)
    await until(
      async () => (await hooks.allDeliveries(stuckHook.id, 'delivered')).length === 6,
      'the stuck one caught up',
    )
    expect(Math.min(...stuck.received.map((r) => r.answeredAt!))).toBeGreaterThan(healthyDone)
  })

  test('when many events flow to a healthy receiver, then each is delivered exactly once, in one attempt', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver()
    const { id } = await hooks.createOk({ url: inbox.url })

    for (let n = 0; n < 10; n++) {
      const { status_id } = await statuses.createOk()
      await statuses.updateOk(status_id, { new_status: 'processing', progress_percentage: 30 })
    }
    const feed = await statuses.allEvents()
    await until(
      async () => (await hooks.allDeliveries(id, 'delivered')).length === feed.length,
      'all delivered',
    )

    expect(inbox.eventIds().sort()).toEqual(feed.map((event) => event.event_id).sort())
    const deliveries = await hooks.allDeliveries(id)
    expect(deliveries).toHaveLength(20)
    expect(deliveries.every((d: DeliveryJson) => d.attempts === 1)).toBe(true)
  })

  test('when deliveries are paged, then pages follow the cursor newest first without repeats, and bad queries are 400', async () => {
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver()
    const { id } = await hooks.createOk({ url: inbox.url })
    for (let n = 0; n < 5; n++) await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 5, 'all delivered')

    const first = await hooks.deliveries(id, { limit: 2 })
    const second = await hooks.deliveries(id, { limit: 2, cursor: first.body.next_cursor })
    const third = await hooks.deliveries(id, { limit: 2, cursor: second.body.next_cursor })

    const seqs = [first, second, third].flatMap((page) => page.body.items.map((d: DeliveryJson) => d.seq))
    expect(seqs).toEqual([5, 4, 3, 2, 1])
    expect([first.body.has_more, second.body.has_more, third.body.has_more]).toEqual([true, true, false])
    expect(third.body.next_cursor).toBeNull()
    expectProblem(
      await hooks.deliveries(id, { limit: 2, cursor: first.body.next_cursor, state: 'dead' }),
      400,
      'invalid-cursor',
    )
    expectProblem(await hooks.deliveries(id, { cursor: 'garbage' }), 400, 'invalid-cursor')
    expectValidationError(await hooks.deliveries(id, { state: 'lost' }), 'state')
    expectValidationError(await hooks.deliveries(id, { limit: 0 }), 'limit')
    expectValidationError(await hooks.deliveries(id, { limit: 501 }), 'limit')
    expectValidationError(await hooks.deliveries(id, { since: 1 }), '')
    expect(await hooks.allDeliveries(id, 'pending')).toEqual([])
  })

  test('when deliveries were attempted, then /metrics counts attempts by outcome and pending deliveries', async () => {
    const res = await t.request.get('/metrics')

    expect(res.status).toBe(200)
    expect(res.text).toMatch(/^webhook_delivery_attempts_total\{outcome="delivered"\} [1-9]/m)
    expect(res.text).toMatch(/^webhook_delivery_attempts_total\{outcome="retry"\} [1-9]/m)
    expect(res.text).toMatch(/^webhook_delivery_attempts_total\{outcome="dead"\} [1-9]/m)
    expect(res.text).toMatch(/^webhook_deliveries_pending \d+$/m)
    expect(res.text).toMatch(/^webhook_deliveries_in_flight \d+$/m)
    expect(res.text).toMatch(/^webhook_delivery_attempt_seconds_count [1-9]/m)
  })
})

describe('timeouts', () => {
  test('when a receiver does not answer within the timeout, then the attempt fails with a timeout', async () => {
    const t = await appWith({ timeoutMs: 200, maxAttempts: 1 })
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver(() => 'hang')
    const { id } = await hooks.createOk({ url: inbox.url })

    await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'dead')).length === 1, 'dead after the timeout')

    const [dead] = await hooks.allDeliveries(id)
    expect(dead).toMatchObject({ attempts: 1, last_error: 'no answer within 200 ms' })
    expect((await attemptsOf(t, dead!.id))[0]).toMatchObject({
      statusCode: null,
      error: 'no answer within 200 ms',
    })
  })

  test('when nothing listens at the url, then the attempt fails with the connection error', async () => {
    const t = await appWith({ maxAttempts: 1 })
    const { statuses, hooks } = await newTenant(t)
    const gone = await startReceiver()
    await gone.close()
    const { id } = await hooks.createOk({ url: gone.url })

    await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'dead')).length === 1, 'dead')

    expect((await hooks.allDeliveries(id))[0]!.last_error).toBe('request failed: ECONNREFUSED')
  })
})

describe('stopping', () => {
  test('when the dispatcher is stopped twice, then both calls resolve and nothing is sent afterwards', async () => {
    const t = await buildTestApp()
    const { statuses, hooks } = await newTenant(t)
    const inbox = await receiver()
    const { id } = await hooks.createOk({ url: inbox.url })
    await statuses.createOk()
    await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 1, 'delivered')

    await Promise.all([t.services.dispatcher.stop(), t.services.dispatcher.stop()])
    await t.services.dispatcher.stop()
    await statuses.createOk()
    await until(
      async () => (await hooks.allDeliveries(id, 'pending')).length === 1,
      'the next one is enqueued',
    )

    expect(inbox.received).toHaveLength(1)
    await t.close()
  })
})
