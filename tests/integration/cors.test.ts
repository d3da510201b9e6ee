import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../src/config'
import { openDatabase } from '../../src/db/prisma'
import type { CorsOrigins } from '../../src/http/cors'
import { startServer } from '../../src/server'
import { createServices } from '../../src/services'
import { makeStatus } from '../helpers/factories'
import { buildTestApp, type TestApp } from '../helpers/test-app'

const APP = 'https://app.example.com'
const ELSEWHERE = 'https://elsewhere.example.com'

const apps: TestApp[] = []
afterAll(async () => {
  for (const t of apps) await t.close()
})
async function appAllowing(corsOrigins: CorsOrigins) {
  const t = await buildTestApp({ corsOrigins })
  apps.push(t)
  return t
}

const preflight = (t: TestApp, origin: string) =>
  t.request
    .options('/api/status/job-1')
    .set('Origin', origin)
    .set('Access-Control-Request-Method', 'PUT')
    .set('Access-Control-Request-Headers', 'authorization,content-type,if-match,idempotency-key')

describe('when any origin is allowed (the default, *)', () => {
  test('then a cross-origin answer is readable, with the headers the client reads exposed', async () => {
    const t = await appAllowing('*')
    const res = await t.request
      .post('/api/status')
      .set('Origin', ELSEWHERE)
      .set('Authorization', `Bearer ${t.adminKey}`)
      .send(makeStatus())

    expect(res.status).toBe(201)
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(res.headers['access-control-allow-credentials']).toBeUndefined()
    const exposed = res.headers['access-control-expose-headers']!.split(',')
    expect(exposed).toEqual(
      expect.arrayContaining(['ETag', 'Location', 'Retry-After', 'RateLimit', 'RateLimit-Policy']),
    )
  })

  test('then a preflight, which carries no key, is answered 204 with the asked-for method and headers', async () => {
    const t = await appAllowing('*')
    const res = await preflight(t, ELSEWHERE)

    expect(res.status).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(res.headers['access-control-allow-methods']).toContain('PUT')
    expect(res.headers['access-control-allow-headers']).toBe(
      'authorization,content-type,if-match,idempotency-key',
    )
    expect(res.headers['access-control-max-age']).toBe('600')
  })

  test('then the API description is readable, but not /metrics, /health or the dashboard, which need no key', async () => {
    const t = await appAllowing('*')
    const get = (path: string) => t.request.get(path).set('Origin', ELSEWHERE)

    expect((await get('/openapi.json')).headers['access-control-allow-origin']).toBe('*')
    for (const path of ['/metrics', '/health', '/ready', '/']) {
      const res = await get(path)
      expect(res.status).toBeLessThan(500)
      expect(res.headers['access-control-allow-origin']).toBeUndefined()
    }
  })

  test('then a problem answer is readable too, so a page can show the error', async () => {
    const t = await appAllowing('*')
    const res = await t.request.get('/api/status').set('Origin', ELSEWHERE)

    expect(res.status).toBe(401)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.headers['access-control-allow-origin']).toBe('*')
  })
})

describe('when only listed origins are allowed', () => {
  test('then a listed origin is named back and varies the answer; another gets no CORS headers', async () => {
    const t = await appAllowing([APP])
    const get = (origin: string) =>
      t.request.get('/api/status').set('Origin', origin).set('Authorization', `Bearer ${t.adminKey}`)

    const listed = await get(APP)
    expect(listed.headers['access-control-allow-origin']).toBe(APP)
    expect(listed.headers.vary).toMatch(/Origin/)

    const other = await get(ELSEWHERE)
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
    expect((await preflight(t, ELSEWHERE)).headers['access-control-allow-origin']).toBeUndefined()
    expect((await preflight(t, APP)).headers['access-control-allow-origin']).toBe(APP)
  })

  test('then CORS is not access control: a request from elsewhere with a valid key is still served', async () => {
    const t = await appAllowing([APP])
    const res = await t.request
      .get('/api/status')
      .set('Origin', ELSEWHERE)
      .set('Authorization', `Bearer ${t.adminKey}`)

    expect(res.status).toBe(200)
  })
})

describe('when no origin is allowed (none)', () => {
  test('then no answer carries CORS headers and a preflight is not answered for the API', async () => {
    const t = await appAllowing([])
    const res = await t.request
      .get('/api/status')
      .set('Origin', ELSEWHERE)
      .set('Authorization', `Bearer ${t.adminKey}`)
    expect(res.status).toBe(200)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()

    const pre = await preflight(t, ELSEWHERE)
    expect(pre.status).toBe(401)
    expect(pre.headers['access-control-allow-origin']).toBeUndefined()
  })
})

describe('Socket.IO long-polling', () => {
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-cors-'))
    // A key up front, so startServer finds a non-empty database and prints no bootstrap key.
    const db = await openDatabase({ url: `file:${path.join(dir, 'status.db')}` })
    await (await createServices({ db })).apiKeys.create('default', ['admin'])
    await db.close()
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('when CORS_ORIGINS lists an origin, then the handshake answers it and no other', async () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: `file:${path.join(dir, 'status.db')}`,
      LOG_LEVEL: 'silent',
      CORS_ORIGINS: APP,
    })
    const { port, stop } = await startServer(config)
    try {
      const handshake = (origin: string) =>
        fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } })

      const listed = await handshake(APP)
      expect(listed.status).toBe(200)
      expect(listed.headers.get('access-control-allow-origin')).toBe(APP)
      const other = await handshake(ELSEWHERE)
      expect(other.headers.get('access-control-allow-origin')).toBeNull()
    } finally {
      await stop()
    }
  })
})
