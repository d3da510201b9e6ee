import type { FeedEventJson } from '../helpers/status-api'
import { freshTenantName } from '../helpers/tenants'
import { bearer, buildTestApp, listenWithSockets, type TestApp } from '../helpers/test-app'
import { range, until } from '../helpers/wait'
import { startReceiver } from '../helpers/webhook-receiver'

// SPEC §14: a status's log through the real app, its store, the feed, Socket.IO and a webhook receiver.

jest.setTimeout(120_000)

let t: TestApp
let listening: Awaited<ReturnType<typeof listenWithSockets>>

beforeAll(async () => {
  t = await buildTestApp({ webhooks: { backoffBaseMs: 10 } })
  listening = await listenWithSockets(t)
})
afterEach(() => listening.disconnectClients())
afterAll(async () => {
  await listening?.close()
  await t?.close()
})

async function tenantWithStatus(id = 'job') {
  const name = freshTenantName('logs')
  const key = await t.makeKey(name, ['admin'])
  expect((await t.request.post('/api/status').set(bearer(key)).send({ status_id: id })).status).toBe(201)
  const append = (lines: unknown[], status = id) =>
    t.request.post(`/api/status/${status}/logs`).set(bearer(key)).send({ lines })
  const list = (query = '', status = id) =>
    t.request.get(`/api/status/${status}/logs${query}`).set(bearer(key))
  const feed = async () =>
    (await t.request.get('/api/events?after_seq=0&limit=1000').set(bearer(key))).body.items as FeedEventJson[]
  /** Every kept line's message, page after page. */
  const all = async (limit = 100) => {
    const messages: string[] = []
    let query = `?limit=${limit}`
    for (;;) {
      const page = (await list(query)).body
      messages.push(...page.items.map((l: { message: string }) => l.message))
      if (!page.has_more) return messages
      query = `?limit=${limit}&cursor=${encodeURIComponent(page.next_cursor)}`
    }
  }
  return { name, key, append, list, feed, all }
}

describe('POST /api/status/:id/logs', () => {
  test('when lines are appended, then 202, they are listed with their defaults, and one status.log event carries them', async () => {
    const s = await tenantWithStatus()
    const at = '2030-01-01T00:00:00.000Z'
    const res = await s.append([
      { message: 'started' },
      { message: 'slow disk', level: 'warn', at, fields: { disk: 'sda', free_mb: 12 } },
    ])
    expect(res.status).toBe(202)
    expect(res.body).toEqual({ accepted: 2 })
    const page = (await s.list()).body
    expect(page).toEqual({
      items: [
        { at: expect.any(String), level: 'info', message: 'started' },
        { at, level: 'warn', message: 'slow disk', fields: { disk: 'sda', free_mb: 12 } },
      ],
      next_cursor: null,
      has_more: false,
    })
    const events = await s.feed()
    expect(events.map((e) => e.type)).toEqual(['status.created', 'status.log'])
    expect(events[1]).toEqual({
      event_id: expect.any(String),
      seq: 2,
      type: 'status.log',
      status_id: 'job',
      version: 1,
      occurred_at: expect.any(String),
      lines: page.items,
    })
    // The history is the changes only; the record's version did not move.
    const history = (await t.request.get('/api/status/job/history').set(bearer(s.key))).body.items
    expect(history.map((e: { type: string }) => e.type)).toEqual(['status.created'])
    expect((await t.request.get('/api/status/job').set(bearer(s.key))).body.version).toBe(1)
  })

  test.each([
    ['101 lines', { lines: range(1, 101).map((n) => ({ message: `line ${n}` })) }, 'lines'],
    ['no lines', { lines: [] }, 'lines'],
    ['a 3 KiB message', { lines: [{ message: 'x'.repeat(3 * 1024) }] }, 'lines.0.message'],
    ['a message of 2,049 bytes in UTF-8', { lines: [{ message: 'é'.repeat(1025) }] }, 'lines.0.message'],
    ['fields that are not an object', { lines: [{ message: 'a', fields: ['x'] }] }, 'lines.0.fields'],
    ['fields over 2 KiB', { lines: [{ message: 'a', fields: { big: 'y'.repeat(2100) } }] }, 'lines.0.fields'],
    ['an unknown level', { lines: [{ message: 'a', level: 'fatal' }] }, 'lines.0.level'],
    ['a bad time', { lines: [{ message: 'a', at: 'yesterday' }] }, 'lines.0.at'],
    ['an empty message', { lines: [{ message: '' }] }, 'lines.0.message'],
    ['an unknown field', { lines: [{ message: 'a', colour: 'red' }] }, 'lines.0'],
  ])('when the body has %s, then 400 naming it, and nothing is stored or sent', async (_what, body, path) => {
    const s = await tenantWithStatus()
    const res = await t.request.post('/api/status/job/logs').set(bearer(s.key)).send(body)
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ status: 400, code: 'validation-failed' })
    expect((res.body.errors as { path: string }[]).map((e) => e.path)).toContain(path)
    expect((await s.list()).body.items).toEqual([])
    expect((await s.feed()).map((e) => e.type)).toEqual(['status.created'])
  })

  test('when the status is unknown, then 404 for appending and for listing', async () => {
    const s = await tenantWithStatus()
    expect((await s.append([{ message: 'a' }], 'nope')).body).toMatchObject({
      status: 404,
      code: 'status-not-found',
    })
    expect((await s.list('', 'nope')).body).toMatchObject({ status: 404, code: 'status-not-found' })
    expect((await s.feed()).map((e) => e.type)).toEqual(['status.created'])
  })

  test('when more than 1,000 lines are appended, then the newest 1,000 are kept, in order', async () => {
    const s = await tenantWithStatus()
    for (let batch = 0; batch < 11; batch++)
      expect((await s.append(range(1, 100).map((n) => ({ message: String(batch * 100 + n) })))).status).toBe(
        202,
      )
    const kept = await s.all(1000)
    expect(kept).toEqual(range(101, 1100).map(String))
  })

  test('when lines are appended concurrently while it is paged, then no line is skipped or repeated', async () => {
    const s = await tenantWithStatus()
    await s.append(range(1, 50).map((n) => ({ message: `a${n}` })))
    const writing = Promise.all(
      range(1, 20).map((w) => s.append(range(1, 10).map((n) => ({ message: `w${w}-${n}` })))),
    )
    const messages: string[] = []
    let query = '?limit=7'
    for (;;) {
      const page = (await s.list(query)).body
      messages.push(...page.items.map((l: { message: string }) => l.message))
      if (!page.has_more) break
      query = `?limit=7&cursor=${encodeURIComponent(page.next_cursor)}`
    }
    await writing
    // What the paging saw is a prefix of the log, without a hole or a repeat.
    const whole = await s.all(1000)
    expect(whole).toHaveLength(250)
    expect(messages).toEqual(whole.slice(0, messages.length))
    expect(new Set(whole).size).toBe(250)
  })

  test('when the status is deleted, then its log goes with it; made again under the id, it starts a new one', async () => {
    const s = await tenantWithStatus()
    await s.append([{ message: 'old' }])
    expect((await t.request.delete('/api/status/job').set(bearer(s.key))).status).toBe(204)
    expect((await s.list()).status).toBe(404)
    expect((await t.request.post('/api/status').set(bearer(s.key)).send({ status_id: 'job' })).status).toBe(
      201,
    )
    await s.append([{ message: 'new' }])
    expect(await s.all()).toEqual(['new'])
  })
})

describe('status.log on the live channels', () => {
  test('when a subscriber reconnects with since_seq, then the log events it missed are replayed in seq order with the changes', async () => {
    const s = await tenantWithStatus()
    const connect = async () => {
      const socket = listening.socket(s.key)
      expect(await socket.connected$).toBeNull()
      const events: FeedEventJson[] = []
      socket.on('status.event', (e: FeedEventJson) => events.push(e))
      return { socket, events }
    }
    const first = await connect()
    const ack = await first.socket.emitWithAck('subscribe', { status_ids: ['job'] })
    await s.append([{ message: 'one' }])
    await until(() => first.events.length === 1, 'the live log event')
    expect(first.events[0]).toMatchObject({ type: 'status.log', lines: [{ message: 'one' }] })
    const resumeAt = first.events[0]!.seq
    first.socket.disconnect()
    await s.append([{ message: 'two' }])
    await t.request.put('/api/status/job').set(bearer(s.key)).send({ progress_percentage: 5 })
    await s.append([{ message: 'three' }])
    const again = await connect()
    const resumed = await again.socket.emitWithAck('subscribe', { status_ids: ['job'], since_seq: resumeAt })
    expect(resumed).toMatchObject({ ok: true, replayed: 3 })
    await until(() => again.events.length === 3, 'the replay')
    expect(again.events.map((e) => e.type)).toEqual(['status.log', 'status.progress', 'status.log'])
    expect(again.events.map((e) => e.seq)).toEqual([resumeAt + 1, resumeAt + 2, resumeAt + 3])
    expect(ack.seq).toBeLessThan(resumeAt)
  })

  test('when a webhook does not name status.log, then it gets no log events; one that does gets them', async () => {
    const s = await tenantWithStatus()
    const plain = await startReceiver()
    const named = await startReceiver()
    try {
      await t.request.post('/api/webhooks').set(bearer(s.key)).send({ url: plain.url }).expect(201)
      await t.request
        .post('/api/webhooks')
        .set(bearer(s.key))
        .send({ url: named.url, events: ['status.log', 'status.progress'] })
        .expect(201)
      await s.append([{ message: 'for the named one' }])
      // A change after it, which both get: by then the plain one would have had the log event too.
      await t.request.put('/api/status/job').set(bearer(s.key)).send({ progress_percentage: 9 })
      await until(() => plain.received.length >= 1 && named.received.length >= 2, 'both delivered')
      expect(plain.received.map((r) => r.event.type)).toEqual(['status.progress'])
      expect(named.received.map((r) => r.event.type)).toEqual(['status.log', 'status.progress'])
    } finally {
      await plain.close()
      await named.close()
    }
  })
})
