import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import {
  StatusTrackerError,
  StatusTrackerNetworkError,
  type Fetch,
  type StatusEvent,
  type StatusTrackerClient,
  type Subscription,
  type SubscriptionHandlers,
  type SubscriptionMessage,
} from '../../src/client'
import { clientOf, closeClients } from '../helpers/api-client'
import { makeStatus } from '../helpers/factories'
import {
  killAllProcesses,
  startServerProcess,
  tempDatabase,
  type ServerProcess,
} from '../helpers/server-process'
import { range, sleep, until } from '../helpers/wait'

jest.setTimeout(120_000)

const databases: ReturnType<typeof tempDatabase>[] = []
const newDatabase = () => {
  const database = tempDatabase()
  databases.push(database)
  return database
}
afterAll(async () => {
  await closeClients()
  await killAllProcesses()
  databases.forEach((database) => database.cleanup())
})

/** A server on a fresh database (or `url`), an admin client of it, and `count` statuses created through it. */
async function serverWithStatuses(
  count: number,
  url = newDatabase().url,
  input: Parameters<typeof makeStatus>[0] = {},
) {
  const server = await startServerProcess({ DATABASE_URL: url })
  const api = clientOf(server, server.adminKey!)
  const ids: string[] = []
  for (const _ of range(1, count)) ids.push((await api.statuses.create(makeStatus(input))).status_id)
  return { server, api, ids }
}

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`

/** Everything a subscription reports, in the order it reported it. */
function recorder() {
  const events: StatusEvent[] = []
  const disconnects: string[] = []
  const resumes: { since_seq: number; replayed: number }[] = []
  const resyncs: { seq: number; reason: string }[] = []
  let snapshotSeq: number | undefined
  const handlers: SubscriptionHandlers = {
    onSnapshot: (_statuses, seq) => (snapshotSeq = seq),
    onEvent: (event) => events.push(event),
    onDisconnect: (reason) => disconnects.push(reason),
    onResume: (info) => resumes.push(info),
    onResync: (_statuses, seq, reason) => resyncs.push({ seq, reason }),
  }
  return {
    handlers,
    events,
    disconnects,
    resumes,
    resyncs,
    seqs: () => events.map((event) => event.seq),
    get snapshotSeq() {
      return snapshotSeq
    },
  }
}

/**
 * Updates `ids` in turn until stopped, going on through failed requests (the server may be down):
 * a steady stream of writes while a test disturbs the subscriber.
 */
const writers = new Set<{ stop(): Promise<void> }>()

function startWriter(api: StatusTrackerClient, ids: string[], message = (n: number) => `write ${n}`) {
  let stopped = false
  let written = 0
  const done = (async () => {
    for (let n = 0; !stopped; n++) {
      try {
        await api.statuses.update(ids[n % ids.length]!, { progress_percentage: n % 100, message: message(n) })
        written += 1
      } catch (err) {
        if (!(err instanceof StatusTrackerNetworkError)) throw err
        await sleep(20)
      }
    }
  })()
  const writer = {
    get written() {
      return written
    },
    async stop() {
      stopped = true
      writers.delete(writer)
      await done
    },
  }
  writers.add(writer)
  return writer
}

/** The tenant's whole feed after `afterSeq`, read page by page over HTTP. */
async function feedAfter(api: StatusTrackerClient, afterSeq: number): Promise<StatusEvent[]> {
  const events: StatusEvent[] = []
  for await (const event of api.events.all({ after_seq: afterSeq, limit: 1000 })) events.push(event)
  return events
}

/**
 * Waits until the subscriber has the whole feed written since its snapshot, then checks it got each of
 * those events exactly once, in `seq` order, and was never resynced. Returns the feed.
 */
async function expectCaughtUp(
  api: StatusTrackerClient,
  subscription: Subscription,
  seen: ReturnType<typeof recorder>,
  timeoutMs?: number,
): Promise<StatusEvent[]> {
  const feed = await feedAfter(api, seen.snapshotSeq!)
  const head = feed.at(-1)!.seq
  await until(() => subscription.lastSeq === head, 'the subscriber caught up', timeoutMs)
  expect(seen.seqs()).toEqual(range(seen.snapshotSeq! + 1, head))
  expect(seen.events.map((event) => event.event_id)).toEqual(feed.map((event) => event.event_id))
  expect(seen.resyncs).toEqual([])
  return feed
}

/** The TCP connection under a subscription's WebSocket. */
const tcpOf = (socket: Subscription['socket']) =>
  (socket.io.engine.transport as unknown as { ws: { _socket: Socket } }).ws._socket

/** A fetch that lets the first matching request reach the server, then loses the answer. */
function losingFirstAnswer(matches: (url: string, init: RequestInit) => boolean) {
  const attempts: { method: string; url: string; key: string | null; status: number }[] = []
  let lost = false
  const fetch: Fetch = async (url, init) => {
    const response = await globalThis.fetch(url, init)
    const key = new Headers(init.headers).get('idempotency-key')
    attempts.push({ method: init.method ?? 'GET', url, key, status: response.status })
    if (!lost && matches(url, init)) {
      lost = true
      await response.arrayBuffer()
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      })
    }
    return response
  }
  return { fetch, attempts }
}

describe('resuming subscriptions', () => {
  afterEach(async () => {
    // A test that failed half-way leaves its writer running: stop it, or it would write forever.
    await Promise.allSettled([...writers].map((writer) => writer.stop()))
    await closeClients()
    await killAllProcesses()
  })

  test('when the server is SIGKILLed and restarted on its port while writes go on, then the subscriber gets every event exactly once, in seq order', async () => {
    const { url } = newDatabase()
    const { server: first, api, ids } = await serverWithStatuses(3, url)
    const seen = recorder()
    const subscription = api.subscribe({}, seen.handlers)
    await subscription.ready
    const writer = startWriter(api, ids)

    await until(() => seen.events.length >= 20, 'events arrived before the crash')
    expect((await first.kill('SIGKILL')).signal).toBe('SIGKILL')
    await startServerProcess({ DATABASE_URL: url, PORT: String(first.port) })
    const target = writer.written + 30
    await until(() => writer.written >= target, 'writes went on after the restart')
    await writer.stop()

    await expectCaughtUp(api, subscription, seen)
    expect(seen.disconnects.length).toBeGreaterThanOrEqual(1)
    expect(seen.resumes.length).toBeGreaterThanOrEqual(1)
  })

  test('when the connection is cut three times while writes go on, then the subscriber gets every event exactly once, in seq order', async () => {
    const { api, ids } = await serverWithStatuses(3)
    const seen = recorder()
    const subscription = api.subscribe({}, seen.handlers)
    await subscription.ready
    const writer = startWriter(api, ids)

    for (const cut of range(1, 3)) {
      const before = seen.events.length
      await until(() => seen.events.length >= before + 15, `events arrived before cut ${cut}`)
      // The TCP connection dies under the client, as when a network drops.
      tcpOf(subscription.socket).destroy()
      await until(() => seen.resumes.length === cut, `resumed after cut ${cut}`)
    }
    const target = writer.written + 15
    await until(() => writer.written >= target, 'writes went on after the last cut')
    await writer.stop()

    await expectCaughtUp(api, subscription, seen)
    expect(seen.disconnects).toEqual(['transport close', 'transport close', 'transport close'])
    expect(seen.resumes).toHaveLength(3)
  })

  test('when the subscriber stops reading until the server drops it as a slow consumer, then it resumes from its last seq and misses nothing', async () => {
    // Large events fill the transport's buffers sooner, so the server gives up well inside its replay window.
    const { api, ids } = await serverWithStatuses(50, undefined, {
      metadata: { blob: 'x'.repeat(4000) },
    })
    const seen = recorder()
    const subscription = api.subscribe({}, seen.handlers)
    await subscription.ready
    expect((await api.stats()).subscribers).toBe(1)

    const tcp = tcpOf(subscription.socket)
    tcp.pause()
    let rounds = 0
    while ((await api.stats()).subscribers > 0) {
      if (rounds >= 400) throw new Error('the slow subscriber was never dropped')
      const updates = ids.map((status_id) => ({ status_id, message: `round ${rounds}` }))
      await api.statuses.batch(updates, { wait: true })
      rounds += 1
    }
    // Written while it is away: only a replay can bring these.
    await api.statuses.batch(
      ids.map((status_id) => ({ status_id, message: 'after the drop' })),
      { wait: true },
    )
    tcp.resume()

    await expectCaughtUp(api, subscription, seen, 60_000)
    expect(seen.disconnects).toContain('io server disconnect')
    expect(seen.resumes.length).toBeGreaterThanOrEqual(1)
  })

  test('when since_seq is ahead of the feed, then the subscriber is resynced: told so with a fresh snapshot, and events follow it', async () => {
    const { api, ids } = await serverWithStatuses(3)
    const watch = api.watch({ since_seq: 1000 })
    const messages: SubscriptionMessage[] = []
    const reading = (async () => {
      for await (const message of watch) messages.push(message)
    })()

    const ack = await watch.ready
    expect(ack).toMatchObject({ ok: true, seq: 3, replayed: 0 })
    expect(ack.snapshot?.map((s) => s.status_id).sort()).toEqual([...ids].sort())
    await api.statuses.update(ids[0]!, { new_status: 'processing' })
    await until(() => messages.length === 2, 'the resync and the next event arrived')
    await watch.close()
    await reading

    expect(messages[0]).toMatchObject({ type: 'resync', seq: 3, reason: expect.any(String) })
    expect(messages[0]!.type === 'resync' && messages[0]!.statuses).toHaveLength(3)
    expect(messages[1]).toMatchObject({
      type: 'event',
      event: { seq: 4, status_id: ids[0], type: 'status.updated' },
    })
    expect(watch.lastSeq).toBe(4)
  })
})

describe('retries', () => {
  let server: ServerProcess
  let key: string
  beforeAll(async () => {
    server = await startServerProcess({ DATABASE_URL: newDatabase().url })
    key = server.adminKey!
  })

  test('when a create’s answer is lost after the server applied it, then the retry with the same Idempotency-Key replays it and one status exists', async () => {
    const net = losingFirstAnswer((_url, init) => init.method === 'POST')
    const api = clientOf(server, key, { fetch: net.fetch })
    const kind = unique('lost-answer')

    // No status_id: the server makes one, so a second create would be a second status.
    const { data, response } = await api.statuses.create({ kind }).withResponse()

    expect(response).toMatchObject({ status: 201, attempts: 2, replayed: true, version: 1 })
    expect(response.idempotencyKey).toEqual(expect.any(String))
    expect(net.attempts).toEqual([
      expect.objectContaining({ method: 'POST', key: response.idempotencyKey, status: 201 }),
      expect.objectContaining({ method: 'POST', key: response.idempotencyKey, status: 201 }),
    ])
    const page = await api.statuses.list({ kind, include_total: true })
    expect(page.total).toBe(1)
    expect(page.items.map((s) => s.status_id)).toEqual([data.status_id])
  })

  test('when an error report’s answer is lost, then the retry is not counted twice', async () => {
    const { status_id: id } = await clientOf(server, key).statuses.create(
      makeStatus({ status: 'processing' }),
    )
    const net = losingFirstAnswer((url) => url.endsWith('/errors'))
    const api = clientOf(server, key, { fetch: net.fetch })

    const { data, response } = await api.statuses
      .recordError(id, { error_info: 'disk full', should_retry: true })
      .withResponse()

    expect(response).toMatchObject({ attempts: 2, replayed: true })
    expect(data).toMatchObject({
      status: 'retry_pending',
      retry_count: 1,
      error_info: { message: 'disk full' },
    })
    const history = await api.statuses.history(id)
    expect(history.items.map((event) => event.type)).toEqual(['status.created', 'status.error'])
  })

  test('when a batch’s answer is lost, then it is not sent again (it takes no Idempotency-Key) and the error says no answer came', async () => {
    const { status_id: id } = await clientOf(server, key).statuses.create(makeStatus())
    const net = losingFirstAnswer((url) => url.includes('/batch'))
    const api = clientOf(server, key, { fetch: net.fetch })

    const error = await api.statuses
      .batch([{ status_id: id, message: 'once' }], { wait: true })
      .catch((err: unknown) => err)

    expect(error).toBeInstanceOf(StatusTrackerNetworkError)
    expect(error).toMatchObject({ attempts: 1 })
    expect(net.attempts).toHaveLength(1)
    expect(net.attempts[0]!.key).toBeNull()
    const history = await api.statuses.history(id)
    expect(history.items.map((event) => [event.type, event.status.message])).toEqual([
      ['status.created', null],
      ['status.progress', 'once'],
    ])
  })

  test('when the rate limit is exceeded, then the client waits as the 429 asks and the call succeeds', async () => {
    const limited = await startServerProcess({
      DATABASE_URL: newDatabase().url,
      RATE_LIMIT_RPS: '1',
      RATE_LIMIT_BURST: '2',
    })
    const answers: { status: number; retryAfter: string | null; rateLimit: string | null }[] = []
    const api = clientOf(limited, limited.adminKey!, {
      fetch: async (url, init) => {
        const response = await globalThis.fetch(url, init)
        answers.push({
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          rateLimit: response.headers.get('ratelimit'),
        })
        return response
      },
    })

    for (const _ of range(1, 3)) await expect(api.stats()).resolves.toMatchObject({ total: 0 })

    const refused = answers.filter((answer) => answer.status === 429)
    expect(refused.length).toBeGreaterThanOrEqual(1)
    expect(refused[0]!.retryAfter ?? refused[0]!.rateLimit).toEqual(expect.any(String))
    expect(answers.at(-1)!.status).toBe(200)
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(3)
    await limited.kill('SIGKILL')
  })
})

describe('errors and routes', () => {
  let server: ServerProcess
  let api: StatusTrackerClient
  beforeAll(async () => {
    server = await startServerProcess({ DATABASE_URL: newDatabase().url })
    api = clientOf(server, server.adminKey!)
  })
  afterEach(closeClients)

  async function problemOf(call: Promise<unknown>): Promise<StatusTrackerError> {
    const error = await call.then(
      () => new Error('the call succeeded'),
      (err: unknown) => err,
    )
    expect(error).toBeInstanceOf(StatusTrackerError)
    return error as StatusTrackerError
  }

  test('when the API answers with a problem, then the error carries its type, title, status, detail, code and extra fields', async () => {
    const missing = await problemOf(api.statuses.get('no-such-status'))
    expect(missing).toMatchObject({
      status: 404,
      code: 'status-not-found',
      type: '/problems/status-not-found',
      title: 'Not Found',
      detail: 'Status no-such-status not found',
    })
    expect(missing.headers?.get('content-type')).toMatch(/^application\/problem\+json/)

    const invalid = await problemOf(api.statuses.create({ progress_percentage: 150 }))
    expect(invalid).toMatchObject({ status: 400, code: 'validation-failed' })
    expect(invalid.errors?.map((issue) => issue.path)).toContain('progress_percentage')

    const { status_id: id } = await api.statuses.create(makeStatus({ status: 'processing' }))
    await api.statuses.update(id, { new_status: 'completed' })
    const illegal = await problemOf(api.statuses.update(id, { new_status: 'processing' }))
    expect(illegal).toMatchObject({ status: 409, code: 'invalid-transition' })
    expect(illegal.problem).toMatchObject({ from: 'completed', to: 'processing' })
  })

  test('when expectedVersion is given, then it is sent as If-Match: applied at that version, 412 otherwise', async () => {
    const { status_id: id } = await api.statuses.create(makeStatus())

    const applied = await api.statuses
      .update(id, { progress_percentage: 10 }, { expectedVersion: 1 })
      .withResponse()
    expect(applied.data).toMatchObject({ version: 2, applied: true })
    expect(applied.response.version).toBe(2)

    const stale = await problemOf(
      api.statuses.update(id, { progress_percentage: 20 }, { expectedVersion: 1 }),
    )
    expect(stale).toMatchObject({ status: 412, code: 'version-mismatch' })
    expect(stale.problem).toMatchObject({ expected_version: 1, current_version: 2 })
    expect((await api.statuses.get(id)).progress_percentage).toBe(10)
  })

  test('when the key is wrong or lacks a scope, then 401 and 403 over HTTP, and the same codes refuse a subscription', async () => {
    const stranger = clientOf(server, 'st_not-a-key', { retries: 0 })
    expect(await problemOf(stranger.statuses.list())).toMatchObject({ status: 401, code: 'unauthenticated' })

    const { key: readKey } = await api.keys.create({ scopes: ['status:read'] })
    const reader = clientOf(server, readKey)
    expect(await problemOf(reader.statuses.create())).toMatchObject({
      status: 403,
      code: 'insufficient-scope',
    })

    const refusals: StatusTrackerError[] = []
    const refused = stranger.subscribe({}, { onError: (error) => refusals.push(error) })
    expect(await problemOf(refused.ready)).toMatchObject({ status: 401, code: 'unauthenticated' })
    expect(refusals).toHaveLength(1)
    expect(refused.closed).toBe(true)

    const badRequest = api.subscribe({ status_ids: ['has a space'] })
    const invalid = await problemOf(badRequest.ready)
    expect(invalid).toMatchObject({ status: 400, code: 'validation-failed' })
    expect(invalid.errors?.map((issue) => issue.path)).toContain('status_ids.0')
  })

  test('when the event stream cannot replay since_seq, then it throws resync-required', async () => {
    const stream = api.events.stream({ since_seq: 1_000_000 })
    const error = await problemOf(stream.next())
    expect(error).toMatchObject({ status: 410, code: 'resync-required' })
  })

  test('when statuses are listed in pages, then listAll walks every page once and list exposes the cursor', async () => {
    const kind = unique('paged')
    const created: string[] = []
    for (const _ of range(1, 7)) created.push((await api.statuses.create(makeStatus({ kind }))).status_id)

    const first = await api.statuses.list({ kind, sort: 'created_at', limit: 3, include_total: true })
    expect(first).toMatchObject({ has_more: true, total: 7, next_cursor: expect.any(String) })
    const second = await api.statuses.list({ kind, sort: 'created_at', limit: 3, cursor: first.next_cursor! })
    expect(second.items.map((s) => s.status_id)).toEqual(created.slice(3, 6))

    const all: string[] = []
    for await (const status of api.statuses.listAll({ kind, sort: 'created_at', limit: 3 }))
      all.push(status.status_id)
    expect(all).toEqual(created)

    const filtered: string[] = []
    for await (const status of api.statuses.listAll({
      kind,
      status: ['pending', 'processing'],
      sort: '-created_at',
    }))
      filtered.push(status.status_id)
    expect(filtered).toEqual([...created].reverse())
  })

  test('when each status route is called through the client, then each answers as documented', async () => {
    const kind = unique('routes')
    const { status_id: id } = await api.statuses.create(makeStatus({ kind }))

    expect(await api.statuses.getIfChanged(id, 1)).toBeNull()
    await api.statuses.update(id, { new_status: 'processing', reported_at: new Date() })
    expect(await api.statuses.getIfChanged(id, 1)).toMatchObject({ status_id: id, version: 2 })

    const queued = await api.statuses.batch([
      { status_id: id, progress_percentage: 30 },
      { status_id: 'nope', message: 'x' },
    ])
    expect(queued).toEqual({
      accepted: 1,
      rejected: [{ index: 1, error: expect.objectContaining({ code: 'status-not-found' }) }],
    })
    const committed = await api.statuses.batch([{ status_id: id, progress_percentage: 60 }], { wait: true })
    expect(committed).toMatchObject({
      accepted: 1,
      results: [{ index: 0, result: 'applied', status_id: id }],
    })

    expect(await api.statuses.get(id)).toMatchObject({ progress_percentage: 60 })
    // The queued update and the committed one may have merged in the queue: one progress event or two.
    const onePage = (await api.statuses.history(id, { limit: 500 })).items
    expect(onePage.map((event) => event.type).slice(0, 3)).toEqual([
      'status.created',
      'status.updated',
      'status.progress',
    ])
    const pageByPage: StatusEvent[] = []
    for await (const event of api.statuses.historyAll(id, { limit: 1 })) pageByPage.push(event)
    expect(pageByPage).toEqual(onePage)

    const cancelled = await api.statuses.cancel(id)
    expect(cancelled).toMatchObject({ status: 'cancelled' })

    const { status_id: other } = await api.statuses.create(makeStatus({ kind }))
    expect((await api.stats({ kind })).by_status).toMatchObject({ cancelled: 1, pending: 1 })
    expect(await api.statuses.cancelMatching({ kind, status: 'pending' })).toEqual({ cancelled: 1 })
    expect((await api.statuses.get(other)).status).toBe('cancelled')

    await api.statuses.delete(id)
    expect(await problemOf(api.statuses.get(id))).toMatchObject({ code: 'status-not-found' })

    const feed = await api.events.list({ after_seq: 0, limit: 2 })
    expect(feed).toMatchObject({ has_more: true, next_after_seq: 2 })
    const everything = await feedAfter(api, 0)
    expect(everything.map((event) => event.seq)).toEqual(range(1, everything.length))
    expect(everything.at(-1)).toMatchObject({ type: 'status.deleted', status_id: id })

    expect(await api.health()).toEqual({ status: 'ok' })
    expect(await api.ready()).toEqual({ status: 'ready' })
  })

  test('when keys and webhooks are managed through the client, then each route answers as documented', async () => {
    const created = await api.keys.create({ scopes: ['status:read', 'status:write'] })
    expect(created).toMatchObject({ id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^st_/) })
    expect((await api.keys.list()).items.map((k) => k.id)).toContain(created.id)
    await api.keys.revoke(created.id)
    const revoked = (await api.keys.list()).items.find((k) => k.id === created.id)
    expect(revoked?.revoked_at).toEqual(expect.any(String))

    const hook = await api.webhooks.create({ url: 'http://127.0.0.1:9/hook', events: ['status.cancelled'] })
    expect(hook).toMatchObject({
      url: 'http://127.0.0.1:9/hook',
      events: ['status.cancelled'],
      secret: expect.any(String),
    })
    expect(await api.webhooks.get(hook.id)).toEqual({
      id: hook.id,
      url: hook.url,
      events: hook.events,
      created_at: hook.created_at,
    })
    expect((await api.webhooks.list()).items.map((w) => w.id)).toContain(hook.id)
    expect(await api.webhooks.deliveries(hook.id, { state: 'dead' })).toEqual({
      items: [],
      next_cursor: null,
      has_more: false,
    })
    const deliveries = []
    for await (const delivery of api.webhooks.allDeliveries(hook.id)) deliveries.push(delivery)
    expect(deliveries).toEqual([])
    expect(await problemOf(api.webhooks.retryDelivery(hook.id, randomUUID()))).toMatchObject({
      status: 404,
      code: 'delivery-not-found',
    })
    await api.webhooks.delete(hook.id)
    expect(await problemOf(api.webhooks.get(hook.id))).toMatchObject({ code: 'webhook-not-found' })
  })

  test('when a subscription changes its filter, then on the same connection it gets a snapshot of the new selection and only its events, and the server holds one subscription', async () => {
    const [first, second] = [unique('first'), unique('second')]
    const { status_id: a } = await api.statuses.create(makeStatus({ kind: first }))
    const { status_id: b } = await api.statuses.create(makeStatus({ kind: second }))
    const seen = recorder()
    const subscription = api.subscribe({ filter: { kind: first } }, seen.handlers)
    await subscription.ready
    const connection = subscription.socket.id
    await api.statuses.update(a, { new_status: 'processing' })
    await until(() => seen.events.length === 1, 'the event of the first selection arrived')

    const ack = await subscription.change({ filter: { kind: second } })
    await api.statuses.update(a, { progress_percentage: 10 })
    await api.statuses.update(b, { new_status: 'processing' })
    await until(() => seen.events.length === 2, 'the event of the new selection arrived')

    expect(ack.snapshot?.map((s) => s.status_id)).toEqual([b])
    expect(seen.snapshotSeq).toBe(ack.seq)
    expect(seen.events.map((e) => [e.status_id, e.type])).toEqual([
      [a, 'status.updated'],
      [b, 'status.updated'],
    ])
    expect(subscription.socket.id).toBe(connection)
    expect((await api.stats()).subscribers).toBe(1)
  })

  test('when a subscription is read with for await, then its snapshot comes first and each event after it once', async () => {
    const kind = unique('watched')
    const { status_id: id } = await api.statuses.create(makeStatus({ kind }))
    const watch = api.watch({ filter: { kind } })
    const messages: SubscriptionMessage[] = []
    const reading = (async () => {
      for await (const message of watch) {
        messages.push(message)
        if (messages.length === 3) break
      }
    })()
    await watch.ready
    await api.statuses.update(id, { new_status: 'processing' })
    await api.statuses.update(id, { progress_percentage: 50 })
    await reading

    expect(messages[0]).toMatchObject({
      type: 'snapshot',
      statuses: [expect.objectContaining({ status_id: id })],
    })
    expect(messages.slice(1).map((m) => m.type === 'event' && [m.event.type, m.event.version])).toEqual([
      ['status.updated', 2],
      ['status.progress', 3],
    ])
  })
})

describe('liveness through the client (SPEC §11)', () => {
  let server: ServerProcess
  let api: StatusTrackerClient
  beforeAll(async () => {
    server = await startServerProcess({
      DATABASE_URL: newDatabase().url,
      SWEEP_INTERVAL_MS: '50',
      BOOKMARK_INTERVAL_MS: '100',
    })
    api = clientOf(server, server.adminKey!)
  })
  afterEach(closeClients)

  test('when waitFor waits for the end, then it resolves with the terminal record once another writer finishes it', async () => {
    const { status_id: id } = await api.statuses.create(makeStatus({ status: 'processing' }))
    const finished = api.statuses.waitFor(id, { until: 'terminal' })
    await api.statuses.update(id, { progress_percentage: 50 })
    await api.statuses.update(id, { new_status: 'completed' })
    expect(await finished).toMatchObject({ status_id: id, status: 'completed', version: 3 })
    const changed = api.statuses.waitFor(id, { until: 'change', afterVersion: 2 })
    expect((await changed).version).toBe(3)
  })

  test('when nothing happens before timeoutMs, then waitFor rejects with wait-timeout', async () => {
    const { status_id: id } = await api.statuses.create(makeStatus())
    const error = await api.statuses.waitFor(id, { until: 'change', timeoutMs: 1000 }).then(
      () => new Error('it resolved'),
      (err: unknown) => err,
    )
    expect(error).toMatchObject({ code: 'wait-timeout' })
  })

  test('when a producer heartbeats and then goes silent, then the sweeper fails it with heartbeat-timeout, which waitFor sees', async () => {
    const { status_id: id } = await api.statuses.create(
      makeStatus({ status: 'processing', heartbeat_timeout_s: 1, max_retries: 0 }),
    )
    const beat = await api.statuses.heartbeat(id)
    expect(beat).toEqual({ status_id: id, last_heartbeat_at: expect.any(String), version: 1 })
    expect((await api.statuses.heartbeat(id, { progress_percentage: 20 })).version).toBe(2)
    const failed = await api.statuses.waitFor(id, { until: 'terminal', timeoutMs: 30_000 })
    expect(failed).toMatchObject({ status: 'failed', error_info: { code: 'heartbeat-timeout' } })
  })

  test('when a client is given a browser token instead of a key, then it reads and follows its status, and may do nothing else', async () => {
    const { status_id: id } = await api.statuses.create(makeStatus({ status: 'processing' }))
    const { token } = await api.tokens.create({ status_ids: [id], ttl_s: 300 })
    const viewer = clientOf(server, '', { apiKey: undefined, token })
    expect((await viewer.statuses.get(id)).status_id).toBe(id)
    const events: StatusEvent[] = []
    const subscription = viewer.subscribe({ status_ids: [id] }, { onEvent: (e) => events.push(e) })
    await subscription.ready
    const finished = viewer.statuses.waitFor(id, { until: 'terminal' })
    await api.statuses.update(id, { new_status: 'completed' })
    expect((await finished).status).toBe('completed')
    await until(() => events.length === 1, 'the event over Socket.IO')
    const refusal = await viewer.statuses.update(id, { message: 'no' }).then(
      () => new Error('the write succeeded'),
      (err: unknown) => err,
    )
    expect(refusal).toMatchObject({ status: 403, code: 'insufficient-scope' })
  })

  test('when a producer appends log lines, then logs.list pages them and a subscription by id gets them live as status.log', async () => {
    const { status_id: id } = await api.statuses.create(makeStatus({ status: 'processing' }))
    const events: StatusEvent[] = []
    const subscription = api.subscribe({ status_ids: [id] }, { onEvent: (e) => events.push(e) })
    await subscription.ready
    expect(
      await api.logs.append(id, [
        { message: 'fetching' },
        { message: 'retrying', level: 'warn', at: new Date('2030-01-01T00:00:00Z') },
      ]),
    ).toEqual({ accepted: 2 })
    await until(() => events.length === 1, 'the log event')
    const [event] = events
    expect(event!.type === 'status.log' && event!.lines.map((l) => [l.level, l.message])).toEqual([
      ['info', 'fetching'],
      ['warn', 'retrying'],
    ])
    const all: string[] = []
    for await (const line of api.logs.listAll(id, { limit: 1 })) all.push(line.message)
    expect(all).toEqual(['fetching', 'retrying'])
  })

  test("when other statuses' events go by, then a filtered subscription's lastSeq advances with the bookmarks", async () => {
    const { status_id: watched } = await api.statuses.create(makeStatus())
    const { status_id: other } = await api.statuses.create(makeStatus({ status: 'processing' }))
    const events: StatusEvent[] = []
    const subscription = api.subscribe({ status_ids: [watched] }, { onEvent: (e) => events.push(e) })
    const { seq } = await subscription.ready
    for (const p of range(1, 3)) await api.statuses.update(other, { progress_percentage: p })
    await until(() => (subscription.lastSeq ?? 0) >= seq + 3, 'the bookmark moved lastSeq')
    expect(events).toEqual([])
    // The SSE stream of the same statuses moves its resume point the same way; its next event is the watched one's.
    const stream = api.events.stream({ since_seq: seq, status_ids: [watched] })
    const next = stream.next()
    await api.statuses.update(watched, { progress_percentage: 9 })
    expect((await next).value).toMatchObject({ status_id: watched, seq: seq + 4 })
    await stream.return(undefined)
  })
})
