import http, { type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { makeStatus } from '../helpers/factories'
import { buildTestApp, type TestApp } from '../helpers/test-app'

// SPEC §10 seed floors, measured in-process against the real app on a loopback port. The floors are the
// thresholds; our own numbers (scripts/bench.ts) are far lower, which is the margin.
jest.setTimeout(300_000)

const OPS = 1_000
const MEMORY_OPS = 10_000

let t: TestApp
let server: Server
let baseUrl: string
let headers: Record<string, string>

beforeAll(async () => {
  t = await buildTestApp()
  server = http.createServer(t.app.listener).listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  headers = { Authorization: `Bearer ${await t.makeKey('perf')}`, 'Content-Type': 'application/json' }
  // Warm up: the first requests compile queries and JIT the handlers.
  for (let i = 0; i < 200; i++) {
    const { status_id } = await create()
    await update(status_id, 50)
  }
})

afterAll(async () => {
  agent.destroy()
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await t.close()
})

// node:http with keep-alive rather than fetch: the client shares this process with the server, and
// undici's own per-request cost would be counted against the service.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

function send(method: string, path: string, body?: unknown, expected = 200) {
  return new Promise<{ status_id: string; items?: unknown[] }>((resolve, reject) => {
    const request = http.request(`${baseUrl}${path}`, { method, headers, agent }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
      res.once('end', () => {
        if (res.statusCode !== expected) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`))
        else resolve(JSON.parse(text))
      })
    })
    request.once('error', reject)
    request.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

const create = (overrides = {}) => send('POST', '/api/status', makeStatus(overrides), 201)
const update = (id: string, progress: number) =>
  send('PUT', `/api/status/${encodeURIComponent(id)}`, { progress_percentage: progress })

/** Runs `op` `count` times one after another; returns the mean and p95 in milliseconds. */
async function timeSequential(count: number, op: (i: number) => Promise<unknown>) {
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    await op(i)
    samples.push(performance.now() - start)
  }
  samples.sort((a, b) => a - b)
  const mean = samples.reduce((sum, ms) => sum + ms, 0) / count
  return { mean, p95: samples[Math.floor(count * 0.95)]!, max: samples[count - 1]! }
}

const fmt = ({ mean, p95, max }: { mean: number; p95: number; max: number }) =>
  `mean ${mean.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms, max ${max.toFixed(2)} ms`

/** The real collector when we can reach it (jest is not started with --expose-gc). */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    return runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}

const ids: string[] = []

test('when 1,000 statuses are created one after another, then the mean create is under 10 ms', async () => {
  const timing = await timeSequential(OPS, async () => ids.push((await create()).status_id))

  console.log(`create x${OPS}: ${fmt(timing)}`)
  expect(timing.mean).toBeLessThan(10)
})

test('when 1,000 updates are sent one after another, then the mean update is under 5 ms', async () => {
  expect(ids).toHaveLength(OPS)

  const timing = await timeSequential(OPS, (i) => update(ids[i]!, 10 + (i % 80)))

  console.log(`update x${OPS}: ${fmt(timing)}`)
  expect(timing.mean).toBeLessThan(5)
})

test('when a complex filter runs over the statuses, then it answers in under 100 ms', async () => {
  for (let i = 0; i < 300; i++) {
    await create({
      kind: i % 2 ? 'report.build' : 'video.transcode',
      priority: (['low', 'high', 'critical'] as const)[i % 3],
    })
  }
  const query =
    '/api/status?status=pending,processing&priority=high,critical&kind=report.build&sort=-priority&limit=100&include_total=true'

  const timing = await timeSequential(50, () => send('GET', query))

  console.log(`complex filter x50: ${fmt(timing)}`)
  expect(timing.mean).toBeLessThan(100)
})

test('when 10,000 operations run, then memory grows by less than 100 MB', async () => {
  const gc = collector()
  const measure = () => {
    gc?.()
    const { heapUsed, rss } = process.memoryUsage()
    return { heapUsed, rss }
  }
  const before = measure()

  let current = ''
  for (let i = 0; i < MEMORY_OPS; i++) {
    if (i % 5 === 0) current = (await create()).status_id
    else await update(current, (i % 5) * 20)
  }

  const after = measure()
  const mb = (bytes: number) => bytes / 1024 / 1024
  const heapGrowth = mb(after.heapUsed - before.heapUsed)
  const rssGrowth = mb(after.rss - before.rss)
  console.log(
    `memory over ${MEMORY_OPS} ops (gc ${gc ? 'forced' : 'not available'}): heapUsed ${heapGrowth.toFixed(1)} MB, rss ${rssGrowth.toFixed(1)} MB`,
  )
  // heapUsed after a forced collection is what the app retains; without gc RSS is the only fair measure.
  expect(gc ? heapGrowth : rssGrowth).toBeLessThan(100)
})
