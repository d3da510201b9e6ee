import pino from 'pino'
import supertest from 'supertest'
import { createApp } from '../../src/app'
import { expectProblem } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

test('when /health is asked without a key, then 200 ok', async () => {
  const res = await t.request.get('/health')

  expect(res.status).toBe(200)
  expect(res.body).toEqual({ status: 'ok' })
})

test('when the database is reachable, then /ready is 200 ready', async () => {
  const res = await t.request.get('/ready')

  expect(res.status).toBe(200)
  expect(res.body).toEqual({ status: 'ready' })
})

test('when the database is unreachable, then /ready is 503 not-ready while /health stays 200', async () => {
  const app = createApp({
    services: t.services,
    logger: pino({ level: 'silent' }),
    rateLimit: { rps: 1000, burst: 2000 },
    checkReady: async () => {
      throw new Error('SQLITE_CANTOPEN: unable to open database file')
    },
  })

  const ready = await supertest(app.listener).get('/ready')
  const health = await supertest(app.listener).get('/health')

  expectProblem(ready, 503, 'not-ready')
  expect(ready.text).not.toContain('SQLITE_CANTOPEN')
  expect(health.status).toBe(200)
})

test('when /metrics is scraped after API traffic, then it is Prometheus text with request durations by route', async () => {
  await t.request.get('/api/status').set(bearer(t.adminKey)).expect(200)
  await t.request.get('/api/status/no-such-status').set(bearer(t.adminKey)).expect(404)

  const res = await t.request.get('/metrics')

  expect(res.status).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/plain/)
  expect(res.text).toContain('# TYPE http_request_duration_seconds histogram')
  // Labelled by the route's pattern, never by the id in the URL (one series per route, not per status).
  expect(res.text).toMatch(
    /http_request_duration_seconds_count\{[^}]*method="GET"[^}]*route="\/api\/status"[^}]*status_code="200"[^}]*\} [1-9]/,
  )
  expect(res.text).toMatch(
    /http_request_duration_seconds_count\{[^}]*route="\/api\/status\/:id"[^}]*status_code="404"[^}]*\} [1-9]/,
  )
  expect(res.text).not.toContain('no-such-status')
  expect(res.text).toContain('process_cpu_user_seconds_total')
})

test('when an unknown route is asked, then 404 route-not-found as problem+json', async () => {
  const res = await t.request.get('/no/such/route')

  expectProblem(res, 404, 'route-not-found')
})

test('when an unknown /api route is asked with a key, then 404 route-not-found', async () => {
  const res = await t.request.post('/api/no-such-route').set(bearer(t.adminKey)).send({})

  expectProblem(res, 404, 'route-not-found')
})
