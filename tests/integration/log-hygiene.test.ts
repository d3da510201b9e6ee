import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { io } from 'socket.io-client'
import { createLogger, REDACTED } from '../../src/logger'
import { bearer, buildTestApp, listenWithSockets, type TestApp } from '../helpers/test-app'

// Every log line the app writes, at debug (the access log of every request), is searched for every
// secret this file made or sent: API keys in either header, a wrong key, webhook secrets, a token in a
// query string, and the socket handshake's token.

interface LogLine {
  level: number
  msg: string
  req?: { url?: string; headers?: Record<string, string> }
  res?: { statusCode?: number }
  [field: string]: unknown
}

function captureLog() {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      done()
    },
  })
  return { stream, text: () => lines.join('\n'), lines: () => lines.map((l) => JSON.parse(l) as LogLine) }
}

const log = captureLog()
const secrets = new Set<string>()
const remember = (secret: string) => (secrets.add(secret), secret)

let t: TestApp
let key: string
beforeAll(async () => {
  t = await buildTestApp({ logTo: log.stream, logLevel: 'debug' })
  key = remember(await t.makeKey('hygiene'))
  remember(t.adminKey)
})
afterAll(() => t.close())

const leaks = () => [...secrets].filter((secret) => log.text().includes(secret))
const accessLine = (status: number, url: string) =>
  log.lines().find((line) => line.res?.statusCode === status && line.req?.url?.startsWith(url))

test('when requests fail with keys in either header, then their log lines carry the headers redacted', async () => {
  await t.request.get('/api/status/does-not-exist').set(bearer(key)).expect(404)
  await t.request.get('/api/status/also-missing').set('X-API-Key', key).expect(404)
  const wrong = remember(`st_${randomBytes(24).toString('base64url')}`)
  await t.request.get('/api/status').set(bearer(wrong)).expect(401)

  expect(accessLine(404, '/api/status/does-not-exist')?.req?.headers?.authorization).toBe(REDACTED)
  expect(accessLine(404, '/api/status/also-missing')?.req?.headers?.['x-api-key']).toBe(REDACTED)
  expect(accessLine(401, '/api/status')?.req?.headers?.authorization).toBe(REDACTED)
  expect(leaks()).toEqual([])
})

test('when keys and webhooks are made and listed, then neither their secrets nor the admin key are logged', async () => {
  const admin = bearer(t.adminKey)
  const created = await t.request
    .post('/api/keys')
    .set(admin)
    .send({ scopes: ['status:read'] })
    .expect(201)
  remember(created.body.key as string)
  const given = remember(`given-${randomBytes(12).toString('hex')}`)
  await t.request
    .post('/api/webhooks')
    .set(admin)
    .send({ url: 'http://127.0.0.1:9/hook', secret: given })
    .expect(201)
  const generated = await t.request.post('/api/webhooks').set(admin).send({ url: 'http://127.0.0.1:9/h2' })
  remember(generated.body.secret as string)
  // The same secret refused for a bad URL is logged at warn, body and all, were bodies logged.
  await t.request.post('/api/webhooks').set(admin).send({ url: 'not a url', secret: given }).expect(400)
  await t.request.get('/api/webhooks').set(admin).expect(200)
  await t.request
    .get('/api/keys')
    .set(bearer(created.body.key as string))
    .expect(403)

  expect(accessLine(400, '/api/webhooks')?.req?.headers?.authorization).toBe(REDACTED)
  expect(leaks()).toEqual([])
})

test('when a credential is put in a query string, then the logged URL has its value replaced', async () => {
  const token = remember(`tok_${randomBytes(16).toString('hex')}`)

  await t.request.get(`/api/status?access_token=${token}&limit=5`).set(bearer(key)).expect(400)
  await t.request.get(`/api/events/stream?api_key=${token}`).expect(401)

  expect(accessLine(400, '/api/status')?.req?.url).toBe(`/api/status?access_token=${REDACTED}&limit=5`)
  expect(leaks()).toEqual([])
})

test('when a socket connects with a key and another is refused, then neither token is logged', async () => {
  const listening = await listenWithSockets(t, createLogger('debug', log.stream))
  const url = `${listening.url}/status`
  try {
    const good = io(url, { auth: { token: key }, transports: ['websocket'] })
    await new Promise<void>((resolve, reject) => good.once('connect', resolve).once('connect_error', reject))
    good.disconnect()
    const wrong = remember(`st_${randomBytes(24).toString('base64url')}`)
    const bad = io(url, { auth: { token: wrong }, transports: ['websocket'], reconnection: false })
    const refusal = await new Promise<Error>((resolve) => bad.once('connect_error', resolve))
    bad.disconnect()
    expect(refusal.message).toBe('unauthenticated')
  } finally {
    await listening.close()
  }
  expect(leaks()).toEqual([])
})

test('when a request fails on our side, then the error line carries the request with its key redacted', async () => {
  const broken = await buildTestApp({ logTo: log.stream, logLevel: 'debug' })
  const brokenKey = remember(await broken.makeKey('broken'))
  remember(broken.adminKey)
  await broken.db.close()
  try {
    const res = await broken.request.get('/api/stats').set(bearer(brokenKey))

    expect(res.status).toBeGreaterThanOrEqual(500)
    const line = log.lines().find((l) => l.level >= 50 && l.req?.url === '/api/stats')
    expect(line?.req?.headers?.authorization).toBe(REDACTED)
  } finally {
    await broken.close().catch(() => undefined)
  }
  expect(leaks()).toEqual([])
})
