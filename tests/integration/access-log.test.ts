import http from 'node:http'
import { Writable } from 'node:stream'
import { REDACTED } from '../../src/logger'
import { accessLevel } from '../../src/http/access-log'
import { listenOnLoopback } from '../helpers/listen'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import { until } from '../helpers/wait'

interface LogLine {
  level: number
  msg: string
  req?: { method?: string; url?: string; headers?: Record<string, string> }
  res?: { statusCode?: number }
  responseTime?: number
  err?: { message?: string }
}

function captureLog() {
  const lines: LogLine[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { stream, lines }
}

const PINO = { debug: 20, info: 30, warn: 40, error: 50 }

/** Waits for the access line of `url` with `status` (lines are written when the response is done). */
const accessLine = async (lines: LogLine[], status: number, url: string) => {
  const find = () => lines.find((l) => l.res?.statusCode === status && l.req?.url === url)
  await until(() => find() !== undefined, `the access line of ${status} ${url}`, 5_000)
  return find()!
}

/** An app of this describe block logging at `level` into `log`, with a key of its tenant. */
function appLoggingAt(level: string) {
  const log = captureLog()
  const app = { log, t: undefined as unknown as TestApp, key: '' }
  beforeAll(async () => {
    app.t = await buildTestApp({ logTo: log.stream, logLevel: level })
    app.key = await app.t.makeKey()
  })
  afterAll(() => app.t.close())
  return app
}

test('the level of a request is debug for a success, warn for a client error, error for ours', () => {
  expect([200, 201, 204, 304, 400, 404, 429, 499, 500, 503].map(accessLevel)).toEqual([
    'debug',
    'debug',
    'debug',
    'debug',
    'warn',
    'warn',
    'warn',
    'warn',
    'error',
    'error',
  ])
})

describe('at the default level (info)', () => {
  const app = appLoggingAt('info')

  test('when a request succeeds and a later one fails, then only the failure has a line, at warn', async () => {
    await app.t.request.get('/api/status').set(bearer(app.key)).expect(200)
    await app.t.request.get('/api/status/unknown-one').set(bearer(app.key)).expect(404)

    const failed = await accessLine(app.log.lines, 404, '/api/status/unknown-one')
    expect(failed).toMatchObject({ level: PINO.warn, msg: 'request completed', req: { method: 'GET' } })
    expect(failed.req?.headers?.authorization).toBe(REDACTED)
    expect(failed.responseTime).toEqual(expect.any(Number))
    expect(app.log.lines.filter((l) => l.req?.url === '/api/status')).toEqual([])
  })

  test('when the service fails a request, then its line is at error with the cause logged before it', async () => {
    const broken = await buildTestApp({ logTo: app.log.stream, logLevel: 'info' })
    const brokenKey = await broken.makeKey()
    await broken.db.close()
    try {
      const res = await broken.request.get('/api/stats').set(bearer(brokenKey))
      // A closed Prisma client is our fault on SQLite (500); on PostgreSQL its pool reads as lost (503).
      expect([500, 503]).toContain(res.status)

      const line = await accessLine(app.log.lines, res.status, '/api/stats')
      expect(line).toMatchObject({ level: PINO.error, msg: 'request errored' })
      const cause = app.log.lines.find((l) => ['unhandled error', 'database unavailable'].includes(l.msg))
      expect(cause).toMatchObject({
        level: res.status === 500 ? PINO.error : PINO.warn,
        req: { url: '/api/stats' },
        err: {},
      })
      expect(cause?.req?.headers?.authorization).toBe(REDACTED)
      expect(app.log.lines.indexOf(cause!)).toBeLessThan(app.log.lines.indexOf(line))
    } finally {
      await broken.close().catch(() => undefined)
    }
  })
})

describe('at debug', () => {
  const app = appLoggingAt('debug')

  test('when requests succeed, then each has its line at debug, and /health none', async () => {
    await app.t.request.get('/health').expect(200)
    await app.t.request.post('/api/status').set(bearer(app.key)).send({ kind: 'access.log' }).expect(201)
    await app.t.request.get('/metrics').expect(200)

    expect(await accessLine(app.log.lines, 201, '/api/status')).toMatchObject({
      level: PINO.debug,
      msg: 'request completed',
      req: { method: 'POST' },
    })
    await accessLine(app.log.lines, 200, '/metrics')
    expect(app.log.lines.filter((l) => l.req?.url === '/health')).toEqual([])
  })

  test('when a client goes away before its answer, then the line says the request was aborted', async () => {
    const { body } = await app.t.request.post('/api/status').set(bearer(app.key)).send({ kind: 'access.log' })
    const server = http.createServer(app.t.app.listener)
    const listening = await listenOnLoopback(server)
    try {
      const url = `/api/status/${body.status_id}?wait=terminal&timeout_s=30`
      const controller = new AbortController()
      const waiting = fetch(`${listening.url}${url}`, { headers: bearer(app.key), signal: controller.signal })
      await until(() => app.t.services.waiters.count() > 0, 'the long poll to wait', 5_000)
      controller.abort()
      await expect(waiting).rejects.toThrow()

      await until(() => app.log.lines.some((l) => l.req?.url === url), "the aborted request's line", 5_000)
      expect(app.log.lines.find((l) => l.req?.url === url)).toMatchObject({ msg: 'request aborted' })
    } finally {
      await listening.close()
    }
  })
})
