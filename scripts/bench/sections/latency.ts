// Update → subscriber latency: a few Socket.IO subscribers in this process (one clock for sending and
// receiving), single updates at a modest steady rate, each to a status of its own; the time from just
// before the request is sent to each subscriber's `status.event`. Once through PUT /api/status/:id and
// once through POST /api/status/batch (one item, so the updater's flush delay is included).
import { setTimeout as sleep } from 'node:timers/promises'
import { io, type Socket } from 'socket.io-client'
import { cpuWindow, percentile, type CpuPercents } from '../lib/cpu'
import { authHeaders, batchBody, type ServiceTarget } from '../lib/fixtures'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'

const SUBSCRIBERS = 10
const TARGET_P99_MS = 50
const PROGRESS = 50 // fixtures start at 0, so this is a change, and an event, for each of them

interface Pending {
  sentAt: number
  recorded: boolean
  seen: number
}

interface Quantiles {
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
}

export interface LatencyPart {
  path: string
  updates: number
  /** Events expected (updates × subscribers) and received, in the measured part. */
  expected: number
  received: number
  eventMs: Quantiles
  httpMs: Quantiles
  non2xx: number
  cpu: CpuPercents<'server' | 'database'>
}

const quantiles = (samples: number[]): Quantiles => ({
  p50: percentile(samples, 50),
  p90: percentile(samples, 90),
  p99: percentile(samples, 99),
  max: percentile(samples, 100),
})

async function subscribe(target: ServiceTarget): Promise<Socket> {
  const socket = io(`${target.url}/status`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: { token: target.apiKey },
  })
  const ack = (await socket.timeout(10_000).emitWithAck('subscribe', {})) as { ok?: boolean }
  if (!ack?.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`)
  return socket
}

export interface LatencyOptions {
  /** Where the subscribers connect; the service (where the updates go) when absent. */
  subscribeTo?: ServiceTarget
  /** Updates/s; --latency-rate when absent. */
  rate?: number
  /** Fixture prefix: each run needs statuses of its own, still at progress 0. */
  prefix?: string
}

export async function runLatency(ctx: BenchContext, options: LatencyOptions = {}): Promise<SectionResult> {
  const rate = options.rate ?? ctx.options.latencyRate
  const warmup = Math.ceil(rate * ctx.part.warmupSec)
  const measured = Math.ceil(rate * ctx.part.durationSec)
  const ids = await ctx.clonedIds(options.prefix ?? 'lat', 2 * (warmup + measured))
  const headers = { ...authHeaders(ctx.service.apiKey), 'content-type': 'application/json' }

  let pending = new Map<string, Pending>()
  let samples: number[] = []
  const sockets: Socket[] = []
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const socket = await subscribe(options.subscribeTo ?? ctx.service)
      sockets.push(socket)
      socket.on('status.event', (event: { status_id: string; status: { progress_percentage: number } }) => {
        const at = performance.now()
        const p = pending.get(event.status_id)
        if (!p || event.status.progress_percentage !== PROGRESS) return
        p.seen += 1
        if (p.recorded) samples.push(at - p.sentAt)
      })
    }

    const runPart = async (
      path: string,
      partIds: string[],
      send: (id: string) => Promise<Response>,
      expectedStatus: number,
    ): Promise<LatencyPart> => {
      pending = new Map()
      samples = []
      const httpMs: number[] = []
      let non2xx = 0
      const requests: Promise<void>[] = []
      const interval = 1000 / rate
      let cpu: (() => CpuPercents<'server' | 'database'>) | null = null
      const started = performance.now()
      for (let i = 0; i < partIds.length; i++) {
        const wait = started + i * interval - performance.now()
        if (wait >= 1) await sleep(wait)
        if (i === warmup) cpu = cpuWindow({ server: ctx.service.cpuMs, database: ctx.database.cpuMs })
        const id = partIds[i]!
        const entry: Pending = { sentAt: performance.now(), recorded: i >= warmup, seen: 0 }
        pending.set(id, entry)
        requests.push(
          send(id).then(
            async (res) => {
              await res.arrayBuffer()
              if (entry.recorded) httpMs.push(performance.now() - entry.sentAt)
              if (res.status !== expectedStatus) non2xx += 1
            },
            () => {
              non2xx += 1
            },
          ),
        )
      }
      await Promise.all(requests)
      const cpuUse = cpu!()
      // Stragglers: wait until every subscriber has had every update, or 2 s.
      const recorded = [...pending.values()].filter((p) => p.recorded)
      const deadline = performance.now() + 2000
      while (performance.now() < deadline && recorded.some((p) => p.seen < SUBSCRIBERS)) await sleep(10)
      return {
        path,
        updates: recorded.length,
        expected: recorded.length * SUBSCRIBERS,
        received: samples.length,
        eventMs: quantiles(samples),
        httpMs: quantiles(httpMs),
        non2xx,
        cpu: cpuUse,
      }
    }

    const half = warmup + measured
    const put = await runPart(
      'PUT /api/status/:id',
      ids.slice(0, half),
      (id) =>
        fetch(`${ctx.service.url}/api/status/${id}`, {
          method: 'PUT',
          headers,
          body: JSON.stringify({ progress_percentage: PROGRESS }),
        }),
      200,
    )
    const batch = await runPart(
      'POST /api/status/batch (1 item)',
      ids.slice(half, 2 * half),
      (id) =>
        fetch(`${ctx.service.url}/api/status/batch`, {
          method: 'POST',
          headers,
          body: batchBody([id], PROGRESS),
        }),
      202,
    )
    const parts = [put, batch]

    const ms = (v: number | null) => (v === null ? '–' : String(round(v, 1)))
    return {
      name: 'latency',
      title: `Update → subscriber latency (${SUBSCRIBERS} subscribers, ${rate} updates/s)`,
      summary: parts
        .map((p) => `${p.path} p50 ${ms(p.eventMs.p50)} ms, p99 ${ms(p.eventMs.p99)} ms`)
        .join('; '),
      table: {
        columns: [
          'path',
          'updates',
          'events received',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'max ms',
          'HTTP p50 / p99 ms',
        ],
        rows: parts.map((p) => [
          p.path,
          thousands(p.updates),
          `${thousands(p.received)} of ${thousands(p.expected)}`,
          ms(p.eventMs.p50),
          ms(p.eventMs.p90),
          ms(p.eventMs.p99),
          ms(p.eventMs.max),
          `${ms(p.httpMs.p50)} / ${ms(p.httpMs.p99)}`,
        ]),
      },
      notes: [
        `From just before the request is sent to the \`status.event\` at each of ${SUBSCRIBERS} firehose subscribers ` +
          `(socket.io-client in the bench process, so one clock), ${rate} updates/s, each to its own status, ` +
          `${ctx.part.durationSec} s measured after ${ctx.part.warmupSec} s. The batch path includes the updater's ` +
          `flush delay (UPDATER_FLUSH_MS, 5 ms by default). Server CPU ${parts
            .map((p) => `${Math.round(p.cpu.server ?? 0)} %`)
            .join(
              ' / ',
            )}, other programs ${parts.map((p) => `${Math.round(p.cpu.other ?? 0)} %`).join(' / ')}` +
          `${parts.some((p) => p.non2xx > 0) ? `; failed requests ${parts.map((p) => p.non2xx).join(' / ')}` : ''}.`,
      ],
      targets: parts.map((p) =>
        target(`${p.path} → subscriber p99 ≤ ${TARGET_P99_MS} ms`, p.eventMs.p99, (v) => v <= TARGET_P99_MS),
      ),
      otherCpuPercent: Math.max(0, ...parts.map((p) => p.cpu.other ?? 0)),
      data: { subscribers: SUBSCRIBERS, rate, parts },
    }
  } finally {
    for (const socket of sockets) socket.disconnect()
  }
}
