// A flooding client in a process of its own, a worker of scripts/bench.ts (so its load generation does not
// share an event loop with the victim's timed requests), with one key, in one of two shapes:
// - steady: requests sent evenly through the second (node:http, keep-alive, up to `connections` sockets);
// - autocannon: autocannon's overallRate, which has each connection send its share of every second as
//   fast as the answers come, so the flood arrives as a burst of `connections` requests at a time.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { serve } from '../lib/ipc'

export interface FloodRequest {
  url: string
  path: string
  apiKey: string
  shape: 'steady' | 'autocannon'
  /** Requests per second over all connections. */
  rate: number
  connections: number
  durationSec: number
  /** From this many seconds in, admitted (200) answers are also counted apart: the steady state. */
  markSec: number
  /** Steady shape: unanswered requests beyond which it stops sending (the server is not keeping up). */
  maxPending: number
}

export interface FloodResult {
  requests: number
  statusCodes: Record<string, number>
  errors: number
  timeouts: number
  /** Requests not sent (steady shape) because as many as the cap were still unanswered. */
  skipped: number
  durationSec: number
  /** 200s answered from `markSec` on, and the seconds from then to the end. */
  admittedAfterMark: number
  afterMarkSec: number
}

/** Counts the 200s answered from `markSec` after `startedAt` on. */
function markCounter(startedAt: number, markSec: number) {
  const markAt = startedAt + markSec * 1000
  let admitted = 0
  return {
    response(statusCode: number | undefined) {
      if (statusCode === 200 && performance.now() >= markAt) admitted += 1
    },
    result: (endedAt: number) => ({ admittedAfterMark: admitted, afterMarkSec: (endedAt - markAt) / 1000 }),
  }
}

async function steady(req: FloodRequest): Promise<FloodResult> {
  const url = new URL(req.url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: req.connections })
  const statusCodes: Record<string, number> = {}
  let requests = 0
  let errors = 0
  let skipped = 0
  let pending = 0
  let drained: (() => void) | undefined
  const startedAt = performance.now()
  const mark = markCounter(startedAt, req.markSec)
  const send = () => {
    requests += 1
    pending += 1
    const done = () => {
      pending -= 1
      if (pending === 0) drained?.()
    }
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: req.path,
        agent,
        headers: { authorization: `Bearer ${req.apiKey}` },
      },
      (res) => {
        const code = String(res.statusCode)
        statusCodes[code] = (statusCodes[code] ?? 0) + 1
        mark.response(res.statusCode)
        res.resume()
        res.once('end', done)
      },
    )
    request.once('error', () => {
      errors += 1
      done()
    })
    request.end()
  }
  let sent = 0
  for (;;) {
    const elapsed = performance.now() - startedAt
    if (elapsed >= req.durationSec * 1000) break
    const due = Math.floor((elapsed * req.rate) / 1000)
    for (; sent < due; sent++) {
      if (pending >= req.maxPending) skipped += 1
      else send()
    }
    await sleep(1)
  }
  if (pending > 0) await new Promise<void>((resolve) => (drained = resolve))
  const endedAt = performance.now()
  agent.destroy()
  return {
    requests,
    statusCodes,
    errors,
    timeouts: 0,
    skipped,
    durationSec: (endedAt - startedAt) / 1000,
    ...mark.result(endedAt),
  }
}

async function bursts(req: FloodRequest): Promise<FloodResult> {
  const startedAt = performance.now()
  const mark = markCounter(startedAt, req.markSec)
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${req.url}${req.path}`,
        connections: req.connections,
        overallRate: req.rate,
        duration: req.durationSec,
        headers: { authorization: `Bearer ${req.apiKey}` },
        timeout: 10,
      },
      (err, done) => (err ? reject(err) : resolve(done)),
    )
    instance.on('response', (_client: unknown, statusCode: number) => mark.response(Number(statusCode)))
  })
  const endedAt = performance.now()
  const statusCodes: Record<string, number> = {}
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = stats.count ?? 0
  return {
    requests: result.requests.total,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    skipped: 0,
    durationSec: (endedAt - startedAt) / 1000,
    ...mark.result(endedAt),
  }
}

serve({
  flood(message) {
    const req = message as unknown as FloodRequest
    return req.shape === 'steady' ? steady(req) : bursts(req)
  },
})
