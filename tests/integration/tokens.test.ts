import fc from 'fast-check'
import { HTTP_METHODS, type OpenApiDocument } from '../helpers/openapi'
import { openEventStream } from '../helpers/sse-stream'
import type { EventJson } from '../helpers/status-api'
import { freshTenantName } from '../helpers/tenants'
import { bearer, buildTestApp, listenWithSockets, type TestApp } from '../helpers/test-app'
import { until } from '../helpers/wait'

// SPEC §13: browser tokens through the real app (REST, SSE and Socket.IO), on a clock the test moves.

jest.setTimeout(120_000)

let t: TestApp
let now = Date.parse('2030-06-01T12:00:00.000Z')
let listening: Awaited<ReturnType<typeof listenWithSockets>>

beforeAll(async () => {
  t = await buildTestApp({ clock: () => new Date(now) })
  listening = await listenWithSockets(t)
})
afterEach(() => listening.disconnectClients())
afterAll(async () => {
  await listening?.close()
  await t?.close()
})

/** A tenant with a reader key, and statuses `a`, `b` and `c` in it. */
async function tenantWithStatuses(name = freshTenantName('tokens')) {
  const writer = await t.makeKey(name)
  const reader = await t.makeKey(name, ['status:read'])
  for (const id of ['a', 'b', 'c'])
    expect((await t.request.post('/api/status').set(bearer(writer)).send({ status_id: id })).status).toBe(201)
  const issue = async (body: Record<string, unknown>, key = reader) => {
    const res = await t.request.post('/api/tokens').set(bearer(key)).send(body)
    expect(res.status).toBe(201)
    return res.body.token as string
  }
  return { name, writer, reader, issue }
}

describe('POST /api/tokens', () => {
  test('when a reader asks for a token, then it gets one that expires after ttl_s (default 900 s)', async () => {
    const { reader } = await tenantWithStatuses()
    const res = await t.request
      .post('/api/tokens')
      .set(bearer(reader))
      .send({ status_ids: ['a'] })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      token: expect.stringMatching(/^stt_/),
      expires_at: new Date(now + 900_000).toISOString(),
    })
    const short = await t.request
      .post('/api/tokens')
      .set(bearer(reader))
      .send({ status_ids: ['a'], ttl_s: 60 })
    expect(short.body.expires_at).toBe(new Date(now + 60_000).toISOString())
  })

  test.each([
    [{}, 'status_ids'],
    [{ status_ids: [] }, 'status_ids'],
    [{ status_ids: ['a'], ttl_s: 59 }, 'ttl_s'],
    [{ status_ids: ['a'], ttl_s: 86_401 }, 'ttl_s'],
    [{ status_ids: ['a'], scope: 'all' }, ''],
  ])('when the body is %j, then 400 naming %s', async (body, path) => {
    const { reader } = await tenantWithStatuses()
    const res = await t.request.post('/api/tokens').set(bearer(reader)).send(body)
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ status: 400, code: 'validation-failed' })
    if (path) expect((res.body.errors as { path: string }[]).map((e) => e.path)).toContain(path)
  })

  test('when a token asks for a token, then 403', async () => {
    const { issue } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['a'] })
    const res = await t.request
      .post('/api/tokens')
      .set(bearer(token))
      .send({ status_ids: ['a'] })
    expect(res.body).toMatchObject({ status: 403, code: 'insufficient-scope' })
  })
})

describe('what a token reads', () => {
  test('when its statuses are read, then they answer; any other status is 404, as another tenant’s', async () => {
    const { issue, writer } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['a', 'b'] })
    expect((await t.request.get('/api/status/a').set(bearer(token))).body).toMatchObject({ status_id: 'a' })
    expect((await t.request.get('/api/status/b/history').set(bearer(token))).body.items).toHaveLength(1)
    expect((await t.request.get('/api/status/c').set(bearer(token))).body).toMatchObject({
      status: 404,
      code: 'status-not-found',
    })
    expect((await t.request.get('/api/status/c/history').set(bearer(token))).status).toBe(404)
    // It waits like a key does.
    const waiting = t.request.get('/api/status/a?wait=terminal&timeout_s=30').set(bearer(token))
    const done = t.request.put('/api/status/a').set(bearer(writer)).send({ new_status: 'cancelled' })
    const [answer] = await Promise.all([waiting, done])
    expect(answer.body).toMatchObject({ status: 'cancelled' })
  })

  test('when any other operation is called with a token, then 403 insufficient-scope, and nothing changes', async () => {
    const { issue, writer } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['a', 'b', 'c'] })
    const doc = (await t.request.get('/openapi.json')).body as OpenApiDocument
    const refused: string[] = []
    let checked = 0
    for (const [route, item] of Object.entries(doc.paths)) {
      for (const method of HTTP_METHODS) {
        const op = item[method] as Record<string, unknown> | undefined
        if (!op || !op['x-required-scope'] || op['x-browser-token']) continue
        const path = route
          .replace('{id}', route.startsWith('/api/keys') ? 'key_0000000000000000' : 'a')
          .replace('{delivery_id}', '00000000-0000-7000-8000-000000000000')
        const res = await (t.request as unknown as Record<string, (p: string) => import('supertest').Test>)[
          method
        ]!(path)
          .set(bearer(token))
          .send(method === 'get' || method === 'delete' ? undefined : {})
        checked += 1
        if (res.status !== 403 || res.body.code !== 'insufficient-scope')
          refused.push(`${method} ${route} → ${res.status}`)
      }
    }
    expect(refused).toEqual([])
    // Everything but the three reads a token may make, and the public routes.
    expect(checked).toBeGreaterThan(15)
    const a = (await t.request.get('/api/status/a').set(bearer(writer))).body
    expect(a).toMatchObject({ version: 1, status: 'pending' })
  })

  test('when the token has expired, then 401 token-expired', async () => {
    const { issue } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['a'], ttl_s: 60 })
    now += 59_000
    expect((await t.request.get('/api/status/a').set(bearer(token))).status).toBe(200)
    now += 1_000
    expect((await t.request.get('/api/status/a').set(bearer(token))).body).toMatchObject({
      status: 401,
      code: 'token-expired',
    })
  })

  test('when the token is tampered with, then 401 unauthenticated', async () => {
    const { issue } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['a'] })
    const [body, signature] = token.slice(4).split('.') as [string, string]
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString())
    const widened = Buffer.from(JSON.stringify({ ...payload, s: ['a', 'b', 'c'] })).toString('base64url')
    const flipped = signature.slice(0, -1) + (signature.endsWith('A') ? 'B' : 'A')
    for (const bad of [
      `stt_${widened}.${signature}`,
      `stt_${body}.${flipped}`,
      `stt_${body}`,
      'stt_x.y.z',
      `${token}x`,
    ]) {
      expect((await t.request.get('/api/status/a').set(bearer(bad))).body).toMatchObject({
        status: 401,
        code: 'unauthenticated',
      })
    }
  })

  test('when the issuing key is revoked, then its tokens stop working', async () => {
    const { issue, name } = await tenantWithStatuses()
    const admin = await t.makeKey(name, ['admin'])
    const issuer = await t.makeKey(name, ['status:read'])
    const token = await issue({ status_ids: ['a'] }, issuer)
    expect((await t.request.get('/api/status/a').set(bearer(token))).status).toBe(200)
    const keyId = (
      (await t.request.get('/api/keys').set(bearer(admin))).body.items as { id: string; prefix: string }[]
    ).find((k) => issuer.startsWith(k.prefix))!.id
    expect((await t.request.delete(`/api/keys/${keyId}`).set(bearer(admin))).status).toBe(204)
    expect((await t.request.get('/api/status/a').set(bearer(token))).body).toMatchObject({
      status: 401,
      code: 'unauthenticated',
    })
  })

  test('when tokens of random scopes are used, then none ever reads a status outside its scope or tenant', async () => {
    const ours = await tenantWithStatuses()
    // Another tenant with the same ids: a token of `ours` must never reach them.
    const theirs = await tenantWithStatuses()
    await t.request.put('/api/status/a').set(bearer(theirs.writer)).send({ message: 'theirs' })
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 4 }),
        fc.constantFrom('a', 'b', 'c', 'd'),
        async (scope, asked) => {
          const token = await ours.issue({ status_ids: scope })
          const res = await t.request.get(`/api/status/${asked}`).set(bearer(token))
          const allowed = scope.includes(asked) && asked !== 'd'
          expect(res.status).toBe(allowed ? 200 : 404)
          if (allowed) expect(res.body.message).not.toBe('theirs')
        },
      ),
      { numRuns: 40 },
    )
  })
})

/** A tenant with a tree p → k → g, a status x outside it, and a reader key. */
async function tenantWithTree(name = freshTenantName('tree')) {
  const base = await tenantWithStatuses(name)
  const make = async (status_id: string, parent_id?: string) =>
    expect(
      (await t.request.post('/api/status').set(bearer(base.writer)).send({ status_id, parent_id })).status,
    ).toBe(201)
  await make('p')
  await make('k', 'p')
  await make('g', 'k')
  await make('x')
  return base
}

/** Who is in whose tree: p → k → g; x alone; d does not exist. */
const SUBTREE: Record<string, string[]> = { p: ['p', 'k', 'g'], k: ['k', 'g'], g: ['g'], x: ['x'] }

describe('a token for a parent and its descendants', () => {
  test('when the tree is read, then every status in it answers and any other is 404', async () => {
    const { issue } = await tenantWithTree()
    const token = await issue({ parent_id: 'p' })

    for (const id of ['p', 'k', 'g']) {
      expect((await t.request.get(`/api/status/${id}`).set(bearer(token))).status).toBe(200)
      expect((await t.request.get(`/api/status/${id}/history`).set(bearer(token))).status).toBe(200)
    }
    expect((await t.request.get('/api/status/x').set(bearer(token))).status).toBe(404)
    const children = await t.request.get('/api/status?parent_id=k').set(bearer(token))
    expect(children.status).toBe(200)
    expect(children.body.items.map((s: { status_id: string }) => s.status_id)).toEqual(['g'])
    const outside = await t.request.get('/api/status?parent_id=x').set(bearer(token))
    expect({ status: outside.status, code: outside.body.code }).toEqual({
      status: 404,
      code: 'status-not-found',
    })
    // Listing is for a parent's children only.
    const all = await t.request.get('/api/status').set(bearer(token))
    expect({ status: all.status, code: all.body.code }).toEqual({ status: 403, code: 'insufficient-scope' })
  })

  test('when a token names neither statuses nor a parent, then 400', async () => {
    const { reader } = await tenantWithTree()
    const res = await t.request.post('/api/tokens').set(bearer(reader)).send({ ttl_s: 60 })
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'validation-failed' })
  })

  test('when parent tokens of random scopes are used, then none reads outside its tree or tenant', async () => {
    const ours = await tenantWithTree()
    const theirs = await tenantWithTree()
    await t.request.put('/api/status/g').set(bearer(theirs.writer)).send({ message: 'theirs' })
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('p', 'k', 'g', 'x', 'd'),
        fc.constantFrom('p', 'k', 'g', 'x', 'd'),
        async (parent, asked) => {
          const token = await ours.issue({ parent_id: parent })
          const res = await t.request.get(`/api/status/${asked}`).set(bearer(token))
          const allowed = (SUBTREE[parent] ?? []).includes(asked)
          expect(res.status).toBe(allowed ? 200 : 404)
          if (allowed) expect(res.body.message).not.toBe('theirs')
        },
      ),
      { numRuns: 40 },
    )
  })

  test('when it streams events, then it gets its tree’s, a child made later included, and no other', async () => {
    const { issue, writer } = await tenantWithTree()
    const token = await issue({ parent_id: 'k' })
    const stream = await openEventStream(listening.port, { query: `?token=${token}` })
    try {
      expect(stream.status).toBe(200)
      await t.request.put('/api/status/p').set(bearer(writer)).send({ message: 'above it' })
      await t.request.post('/api/status').set(bearer(writer)).send({ status_id: 'g2', parent_id: 'k' })
      await t.request.post('/api/status').set(bearer(writer)).send({ status_id: 'gg', parent_id: 'g2' })
      await t.request.put('/api/status/gg').set(bearer(writer)).send({ message: 'deep' })
      await t.request.put('/api/status/x').set(bearer(writer)).send({ message: 'outside' })
      await t.request.put('/api/status/g').set(bearer(writer)).send({ message: 'last' })
      await until(() => stream.events().some((e) => e.status?.message === 'last'), 'the last event')
      const seen = stream.events().map((e) => `${e.type} ${e.status_id}`)
      expect(seen.filter((e) => e.endsWith(' p') || e.endsWith(' x'))).toEqual([])
      expect(seen).toEqual(
        expect.arrayContaining([
          'status.created g2',
          'status.created gg',
          'status.progress gg',
          'status.progress g',
          // The roll-up of its new child.
          'status.progress k',
        ]),
      )
    } finally {
      stream.close()
    }
  })

  test('when it subscribes over Socket.IO, then a filter on a parent it covers works and one outside is 404', async () => {
    const { issue, writer } = await tenantWithTree()
    const token = await issue({ parent_id: 'p' })
    const socket = listening.socket(token)
    expect(await socket.connected$).toBeNull()
    const events: EventJson[] = []
    socket.on('status.event', (e: EventJson) => events.push(e))
    const outside = await socket.emitWithAck('subscribe', { filter: { parent_id: 'x' } })
    expect(outside).toMatchObject({ ok: false, error: { code: 'status-not-found' } })
    const noParent = await socket.emitWithAck('subscribe', { filter: { status: ['pending'] } })
    expect(noParent).toMatchObject({ ok: false, error: { code: 'insufficient-scope' } })
    const ack = await socket.emitWithAck('subscribe', { filter: { parent_id: 'k' } })
    expect(ack).toMatchObject({ ok: true, snapshot: [expect.objectContaining({ status_id: 'g' })] })
    await t.request.put('/api/status/x').set(bearer(writer)).send({ message: 'not yours' })
    await t.request.put('/api/status/g').set(bearer(writer)).send({ message: 'yours' })
    await until(() => events.some((e) => e.status?.message === 'yours'), 'its event')
    expect(events.map((e) => e.status_id)).toEqual(['g'])
  })
})

describe('a token on the live channels', () => {
  test('when it opens the event stream with ?token=, then it gets its statuses’ events only', async () => {
    const { issue, writer } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['a'] })
    const stream = await openEventStream(listening.port, { query: `?since_seq=0&token=${token}` })
    try {
      expect(stream.status).toBe(200)
      await t.request.put('/api/status/b').set(bearer(writer)).send({ message: 'not yours' })
      await t.request.put('/api/status/a').set(bearer(writer)).send({ message: 'yours' })
      await until(() => stream.events().some((e) => e.status.message === 'yours'), 'its event')
      expect(stream.events().map((e) => e.status_id)).toEqual(['a', 'a'])
    } finally {
      stream.close()
    }
    // An API key in the URL is never taken.
    const withKey = await openEventStream(listening.port, { query: `?token=${writer}` })
    expect(withKey.status).toBe(401)
    withKey.close()
  })

  test('when it subscribes over Socket.IO, then only its statuses; a filter is refused', async () => {
    const { issue, writer } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['b'] })
    const socket = listening.socket(token)
    expect(await socket.connected$).toBeNull()
    const events: EventJson[] = []
    socket.on('status.event', (e: EventJson) => events.push(e))
    const refused = await socket.emitWithAck('subscribe', { filter: { status: ['pending'] } })
    expect(refused).toMatchObject({ ok: false, error: { code: 'insufficient-scope' } })
    const ack = await socket.emitWithAck('subscribe', { status_ids: ['a', 'b'] })
    expect(ack).toMatchObject({ ok: true, snapshot: [expect.objectContaining({ status_id: 'b' })] })
    expect(ack.snapshot).toHaveLength(1)
    await t.request.put('/api/status/a').set(bearer(writer)).send({ message: 'not yours' })
    await t.request.put('/api/status/b').set(bearer(writer)).send({ message: 'yours' })
    await until(() => events.length === 1, 'its event')
    expect(events[0]).toMatchObject({ status_id: 'b' })
  })

  test('when an expired token connects, then the handshake is refused with token-expired', async () => {
    const { issue } = await tenantWithStatuses()
    const token = await issue({ status_ids: ['a'], ttl_s: 60 })
    now += 61_000
    const err = (await listening.socket(token).connected$) as (Error & { data?: { code?: string } }) | null
    expect(err?.data?.code).toBe('token-expired')
  })
})
