import http from 'node:http'
import supertest from 'supertest'
import { expectProblem } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

// 5 requests/s with a burst of 10: ten requests at once pass, the eleventh within the 2 s window does not.
// One listening server for the whole file keeps each burst far inside that window.
let t: TestApp
let server: http.Server
let request: ReturnType<typeof supertest>
beforeAll(async () => {
  t = await buildTestApp({ rateLimit: { rps: 5, burst: 10 } })
  server = http.createServer(t.app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  request = supertest(server)
  // The first requests of a process are slow (query compilation); keep them out of the timed bursts.
  await request
    .get('/api/status')
    .set(bearer(await t.makeKey('warm-up')))
    .expect(200)
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await t.close()
})

async function spend(key: string, requests: number): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < requests; i++) statuses.push((await request.get('/api/status').set(bearer(key))).status)
  return statuses
}

test('when a key sends its burst, then all pass and the eleventh is 429 rate-limited with Retry-After', async () => {
  const key = await t.makeKey()

  const statuses = await spend(key, 10)
  const res = await request.get('/api/status').set(bearer(key))

  expect(statuses).toEqual(Array(10).fill(200))
  expectProblem(res, 429, 'rate-limited')
  const retryAfter = Number(res.headers['retry-after'])
  expect(Number.isInteger(retryAfter)).toBe(true)
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  expect(retryAfter).toBeLessThanOrEqual(2)
})

test('when a key is limited, then RateLimit and RateLimit-Policy headers describe the limit and what is left', async () => {
  const key = await t.makeKey()

  const first = await request.get('/api/status').set(bearer(key))
  await spend(key, 9)
  const limited = await request.get('/api/status').set(bearer(key))

  expect(first.headers['ratelimit-policy']).toMatch(/; q=10; w=2(;|$)/)
  expect(first.headers.ratelimit).toMatch(/; r=9; t=[12](;|$)/)
  expect(limited.status).toBe(429)
  expect(limited.headers['ratelimit-policy']).toMatch(/; q=10; w=2(;|$)/)
  expect(limited.headers.ratelimit).toMatch(/; r=0; t=[12](;|$)/)
})

test('when one key is limited, then another key of the same tenant still passes', async () => {
  const exhausted = await t.makeKey('shared-tenant')
  const fresh = await t.makeKey('shared-tenant')
  await spend(exhausted, 10)

  const limited = await request.get('/api/status').set(bearer(exhausted))
  const other = await request.get('/api/status').set(bearer(fresh))

  expect(limited.status).toBe(429)
  expect(other.status).toBe(200)
})

test('when a key is limited, then its writes are refused too and nothing is written', async () => {
  const key = await t.makeKey()
  await spend(key, 10)

  const res = await request.post('/api/status').set(bearer(key)).send({ status_id: 'written-while-limited' })

  expectProblem(res, 429, 'rate-limited')
  const read = await request.get('/api/status/written-while-limited').set(bearer(t.adminKey))
  expectProblem(read, 404, 'status-not-found')
})

test('when requests carry no valid key, then they are refused as 401 before the limiter counts them', async () => {
  const anonymous = await Promise.all(Array.from({ length: 12 }, () => request.get('/api/status')))

  expect(anonymous.map((res) => res.status)).toEqual(Array(12).fill(401))
})
