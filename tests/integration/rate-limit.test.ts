import http from 'node:http'
import { Writable } from 'node:stream'
import pino from 'pino'
import supertest from 'supertest'
import { createApp, type HttpApp } from '../../src/app'
import { postgresRateLimitStore } from '../../src/db/rate-limit-repository'
import { expectProblem } from '../helpers/status-api'
import { testStore } from '../helpers/test-database'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import { listenOnLoopback, type Listening } from '../helpers/listen'

// 5 requests/s with a burst of 10: a token is back every 200 ms and the bucket is full after 2 s. The
// limiter reads a clock the tests move by hand, so every count below is exact; each test takes a new key,
// whose bucket starts full whatever the time.
const RPS = 5
const BURST = 10
let now = Date.UTC(2026, 11, 2, 12)
const clock = () => new Date(now)
const advance = (ms: number) => {
  now += ms
}

let t: TestApp
let listening: Listening
let request: ReturnType<typeof supertest>
beforeAll(async () => {
  t = await buildTestApp({ rateLimit: { rps: RPS, burst: BURST, clock } })
  listening = await listenOnLoopback(http.createServer(t.app.listener))
  request = supertest(listening.url)
})
afterAll(async () => {
  await listening.close()
  await t.close()
})

const get = (key: string) => request.get('/api/status').set(bearer(key))

/** Sends requests one after another until one is refused; answers how many passed. */
async function passUntilRefused(key: string, max = 100): Promise<number> {
  for (let passed = 0; passed < max; passed++) {
    const res = await get(key)
    if (res.status === 429) return passed
    expect(res.status).toBe(200)
  }
  throw new Error(`${max} requests passed`)
}

test('when a key sends its whole burst at once, then all of it passes and the next is 429 rate-limited', async () => {
  const key = await t.makeKey()

  const burst = await Promise.all(Array.from({ length: BURST }, () => get(key)))
  const next = await get(key)

  expect(burst.map((res) => res.status)).toEqual(Array(BURST).fill(200))
  expectProblem(next, 429, 'rate-limited', { retry_after: 1 })
})

test('when a key keeps sending after its burst, then it gets rps requests a second, refilled continuously', async () => {
  const key = await t.makeKey()
  expect(await passUntilRefused(key)).toBe(BURST)

  // One token every 200 ms: one request passes per step, for 5 s.
  const perStep: number[] = []
  for (let step = 0; step < 25; step++) {
    advance(200)
    perStep.push(await passUntilRefused(key))
  }
  // A whole second at once: five tokens.
  advance(1000)
  const afterASecond = await passUntilRefused(key)
  // Idle for longer than a refill: the bucket is full again, no fuller.
  advance(60_000)
  const afterAMinute = await passUntilRefused(key)

  expect(perStep).toEqual(Array(25).fill(1))
  expect(afterASecond).toBe(RPS)
  expect(afterAMinute).toBe(BURST)
})

test('when a request is refused, then Retry-After says when a token is back, and a token is back just then', async () => {
  const key = await t.makeKey()
  await passUntilRefused(key)

  const refused = await get(key)
  advance(199)
  const early = await get(key)
  advance(1)
  const onTime = await get(key)

  expectProblem(refused, 429, 'rate-limited')
  expect(refused.headers['retry-after']).toBe('1')
  expect(refused.body.retry_after).toBe(1)
  expectProblem(early, 429, 'rate-limited')
  expect(onTime.status).toBe(200)
})

test('when a key is spent, then RateLimit and RateLimit-Policy headers describe the bucket and what is left', async () => {
  const key = await t.makeKey()

  const first = await get(key)
  await passUntilRefused(key)
  const limited = await get(key)

  expect(first.headers['ratelimit-policy']).toBe('"5-per-second"; q=10; w=2')
  expect(first.headers.ratelimit).toBe('"5-per-second"; r=9; t=1')
  expect(limited.status).toBe(429)
  expect(limited.headers['ratelimit-policy']).toBe('"5-per-second"; q=10; w=2')
  expect(limited.headers.ratelimit).toBe('"5-per-second"; r=0; t=2')
})

test('when many requests are refused, then they take no tokens: one interval later exactly one passes', async () => {
  const key = await t.makeKey()
  await passUntilRefused(key)

  const refused = await Promise.all(Array.from({ length: 30 }, () => get(key)))
  advance(200)
  const passed = await passUntilRefused(key)

  expect(refused.map((res) => res.status)).toEqual(Array(30).fill(429))
  expect(passed).toBe(1)
})

test('when one key is spent, then another key of the same tenant still has its whole burst', async () => {
  const spent = await t.makeKey('shared-tenant')
  const fresh = await t.makeKey('shared-tenant')
  await passUntilRefused(spent)

  expect(await passUntilRefused(fresh)).toBe(BURST)
})

test('when a tenant floods, then another tenant passes and only the flooder is counted in status_rate_limited_total', async () => {
  const flooder = await t.makeKey('flooding-tenant')
  const quiet = await t.makeKey('quiet-tenant')
  await passUntilRefused(flooder)

  const flood = await Promise.all(Array.from({ length: 20 }, () => get(flooder)))
  const other = await get(quiet)
  const metrics = (await request.get('/metrics').expect(200)).text

  expect(flood.map((res) => res.status)).toEqual(Array(20).fill(429))
  expect(other.status).toBe(200)
  // The refusal that ended passUntilRefused, then the 20.
  expect(metrics).toContain('status_rate_limited_total{tenant="flooding-tenant"} 21')
  expect(metrics).not.toContain('status_rate_limited_total{tenant="quiet-tenant"}')
})

test('when a key is limited, then its writes are refused and change nothing', async () => {
  const key = await t.makeKey('limited-writer')
  expect((await request.post('/api/status').set(bearer(key)).send({ status_id: 'kept' })).status).toBe(201)
  await passUntilRefused(key)

  const create = await request
    .post('/api/status')
    .set(bearer(key))
    .send({ status_id: 'written-while-limited' })
  const update = await request.put('/api/status/kept').set(bearer(key)).send({ progress_percentage: 50 })
  const batch = await request
    .post('/api/status/batch?wait=true')
    .set(bearer(key))
    .send({ updates: [{ status_id: 'kept', message: 'while limited' }] })

  for (const res of [create, update, batch]) expectProblem(res, 429, 'rate-limited')
  advance(60_000)
  const kept = await request.get('/api/status/kept').set(bearer(key))
  const notWritten = await request.get('/api/status/written-while-limited').set(bearer(key))
  expect(kept.body).toMatchObject({ version: 1, progress_percentage: 0, message: null })
  expectProblem(notWritten, 404, 'status-not-found')
})

test('when a limited key sends a body that is not JSON, then it is refused as 429 before the body is read', async () => {
  const key = await t.makeKey()
  await passUntilRefused(key)

  const res = await request
    .post('/api/status')
    .set(bearer(key))
    .set('Content-Type', 'application/json')
    .send('{"status_id": ')

  expectProblem(res, 429, 'rate-limited')
})

test('when requests carry no valid key, then they are refused as 401 before the limiter counts them', async () => {
  const anonymous = await Promise.all(Array.from({ length: BURST + 2 }, () => request.get('/api/status')))

  expect(anonymous.map((res) => res.status)).toEqual(Array(BURST + 2).fill(401))
})

test('when requests are refused, then they are counted but not access-logged, while other failures stay at warn', async () => {
  const lines: { level: number; res?: { statusCode?: number } }[] = []
  const logTo = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  const logged = await buildTestApp({ rateLimit: { rps: 1, burst: 1, clock }, logTo, logLevel: 'debug' })
  try {
    const key = await logged.makeKey()
    await logged.request.get('/api/status').set(bearer(key)).expect(200)
    await logged.request.get('/api/status').set(bearer(key)).expect(429)
    advance(1000)
    await logged.request.get('/api/status/missing').set(bearer(key)).expect(404)

    const levelOf = (status: number) => lines.filter((l) => l.res?.statusCode === status).map((l) => l.level)
    expect(levelOf(429)).toEqual([])
    expect(levelOf(404)).toEqual([40])
    expect(levelOf(200)).toEqual([20])
  } finally {
    await logged.close()
  }
})

describe('a key whose bucket is known to be empty, refused before Express', () => {
  const origin = 'https://app.example'
  let cors: HttpApp
  beforeAll(() => {
    cors = createApp({
      services: t.services,
      logger: pino({ level: 'silent' }),
      rateLimit: { rps: RPS, burst: BURST, clock },
      checkReady: t.db.ping,
      corsOrigins: [origin],
    })
  })
  /** What a refusal tells its caller, without the headers every answer has. */
  const answerOf = (res: supertest.Response) => {
    const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...headers } = res.headers
    return { status: res.status, headers, body: res.body }
  }

  test('when a spent key keeps sending from an allowed origin, then every refusal has the same headers and body, CORS included', async () => {
    const key = await t.makeKey()
    const send = () => supertest(cors.listener).get('/api/status').set(bearer(key)).set('Origin', origin)
    for (let i = 0; i < BURST; i++) expect((await send()).status).toBe(200)

    // The first refusal is decided by the bucket in Express; the next ones are known to be refused.
    const first = await send()
    const later = await send()
    const byHeader = await supertest(cors.listener)
      .get('/api/status')
      .set('X-API-Key', key)
      .set('Origin', origin)

    expectProblem(first, 429, 'rate-limited', { retry_after: 1 })
    expect(first.headers['access-control-allow-origin']).toBe(origin)
    expect(first.headers['access-control-expose-headers']).toContain('Retry-After')
    expect(answerOf(later)).toEqual(answerOf(first))
    expect(answerOf(byHeader)).toEqual(answerOf(first))
  })

  test('when a spent key is revoked, then its next request is 401 unauthenticated, not 429', async () => {
    const { key, secret } = await t.services.apiKeys.create('default', ['status:read'])
    await passUntilRefused(secret)
    expectProblem(await get(secret), 429, 'rate-limited')

    await t.services.apiKeys.revoke(key.id)

    expectProblem(await get(secret), 401, 'unauthenticated')
  })

  test('when a spent key sends a preflight or asks outside /api, then those are answered as usual', async () => {
    const key = await t.makeKey()
    const send = () => supertest(cors.listener).get('/api/status').set(bearer(key))
    for (let i = 0; i < BURST; i++) expect((await send()).status).toBe(200)
    expectProblem(await send(), 429, 'rate-limited')

    const preflight = await supertest(cors.listener)
      .options('/api/status')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization')
    const health = await supertest(cors.listener).get('/health').set(bearer(key))
    const openapi = await supertest(cors.listener).get('/openapi.json').set(bearer(key))

    expect(preflight.status).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe(origin)
    expect(health.status).toBe(200)
    expect(openapi.status).toBe(200)
  })
})

const onPostgres = testStore === 'postgresql' ? test : test.skip

onPostgres(
  'when two app instances share the PostgreSQL database, then a key has one bucket across both',
  async () => {
    // A second instance: its own app and its own connections to the buckets, on the same database.
    const store = postgresRateLimitStore(t.url)
    const other = createApp({
      services: t.services,
      logger: pino({ level: 'silent' }),
      rateLimit: { rps: RPS, burst: BURST, clock, store },
      checkReady: t.db.ping,
    })
    try {
      const key = await t.makeKey()
      const viaOther = (k: string) => supertest(other.listener).get('/api/status').set(bearer(k))

      const firstHalf = await Promise.all(Array.from({ length: BURST / 2 }, () => get(key)))
      const secondHalf = await Promise.all(Array.from({ length: BURST / 2 }, () => viaOther(key)))
      const refusedHere = await get(key)
      const refusedThere = await viaOther(key)
      advance(200)
      const oneBack = await viaOther(key)
      const thenNone = await get(key)

      expect([...firstHalf, ...secondHalf].map((res) => res.status)).toEqual(Array(BURST).fill(200))
      expectProblem(refusedHere, 429, 'rate-limited')
      expectProblem(refusedThere, 429, 'rate-limited')
      expect(oneBack.status).toBe(200)
      expectProblem(thenNone, 429, 'rate-limited')
    } finally {
      await store.close()
    }
  },
)
