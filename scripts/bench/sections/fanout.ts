// Fan-out: N Socket.IO subscribers (socket-clients.ts, a worker on the other core) on one tenant's
// firehose (`subscribe {}`), fed by POST /api/status/batch at a steady rate; deliveries/s is events
// received, summed over the clients. The ceiling, in the same run and to the same clients: a bare
// Socket.IO server (raw-socketio-server.ts) broadcasting an event of the same size as fast as they take it.
// The service is then fed at that input rate (the ceiling's deliveries/s ÷ N updates/s, unless
// --fanout-rate says otherwise), so both are asked for the same deliveries/s.
import { setTimeout as sleep } from 'node:timers/promises'
import { io } from 'socket.io-client'
import { cpuWindow, type CpuPercents } from '../lib/cpu'
import { authHeaders, batchBody, waitIdle } from '../lib/fixtures'
import { ask } from '../lib/ipc'
import type { ChildServer } from '../lib/processes'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'
import type { ConnectRequest, ConnectResult, Counts } from '../workers/socket-clients'

const STATUSES = 10_000
const TARGET_RATIO = 0.5

interface Window {
  seconds: number
  deliveriesPerSec: number
  counts: Counts
  cpu: CpuPercents<'server' | 'clients' | 'database'>
}

export interface FanoutRun {
  subscribers: number
  connectSec: { raw: number; service: number }
  raw: Window & { broadcastsPerSec: number }
  service: Window & {
    inputPerSec: number
    /** Updates sent, and events committed, per second during the window. */
    sentPerSec: number
    eventsPerSec: number
    /** Events committed × subscribers: what the clients would receive if nothing were late or lost. */
    offeredDeliveriesPerSec: number
    refused: number
    drained: boolean
  }
  ratio: number | null
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`POST ${url}: HTTP ${res.status} ${text}`)
  return JSON.parse(text) as Record<string, unknown>
}

/** One real `status.event` from the service, with its arguments, as the raw server's payload. */
async function captureEvent(ctx: BenchContext, statusId: string): Promise<unknown[]> {
  const socket = io(`${ctx.service.url}/status`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: { token: ctx.service.apiKey },
  })
  try {
    const args = new Promise<unknown[]>((resolve) =>
      socket.once('status.event', (...a: unknown[]) => resolve(a)),
    )
    const ack = (await socket.timeout(10_000).emitWithAck('subscribe', {})) as { ok?: boolean }
    if (!ack?.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`)
    const res = await fetch(`${ctx.service.url}/api/status/batch`, {
      method: 'POST',
      headers: { ...authHeaders(ctx.service.apiKey), 'content-type': 'application/json' },
      body: batchBody([statusId], 1),
    })
    await res.text()
    if (res.status !== 202) throw new Error(`POST /api/status/batch: HTTP ${res.status}`)
    return await Promise.race([
      args,
      sleep(10_000).then(() => Promise.reject(new Error('no status.event within 10 s of an update'))),
    ])
  } finally {
    socket.disconnect()
  }
}

/** Sends `rate` updates/s as POST /api/status/batch every 10 ms until stopped. */
function steadyBatches(ctx: BenchContext, ids: string[], rate: number, counter: { n: number }) {
  const started = performance.now()
  let sent = 0
  let stopped = false
  let refused = 0
  const inFlight = new Set<Promise<void>>()
  let timer: NodeJS.Timeout | null = null
  const headers = { ...authHeaders(ctx.service.apiKey), 'content-type': 'application/json' }
  const tick = () => {
    if (stopped) return
    const due = Math.min(1000, Math.floor(((performance.now() - started) / 1000) * rate) - sent)
    // At most 32 requests outstanding: past that the service is not keeping up, and the rate is missed.
    if (due > 0 && inFlight.size < 32) {
      const items = Array.from({ length: due }, () => counter.n++)
      // Every pass over the ids moves each status's progress by one, so every update is a real change.
      const byProgress = new Map<number, string[]>()
      for (const i of items) {
        const progress = (Math.floor(i / ids.length) % 99) + 1
        byProgress.set(progress, [...(byProgress.get(progress) ?? []), ids[i % ids.length]!])
      }
      sent += due
      for (const [progress, batch] of byProgress) {
        const request = fetch(`${ctx.service.url}/api/status/batch`, {
          method: 'POST',
          headers,
          body: batchBody(batch, progress),
        })
          .then(async (res) => {
            await res.arrayBuffer()
            if (res.status !== 202) refused += batch.length
          })
          .catch(() => {
            refused += batch.length
          })
          .finally(() => inFlight.delete(request))
        inFlight.add(request)
      }
    }
    timer = setTimeout(tick, 10)
  }
  tick()
  return {
    sent: () => sent,
    refused: () => refused,
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await Promise.all(inFlight)
    },
  }
}

async function measureWindow(
  ctx: BenchContext,
  clients: ChildServer,
  server: () => number | null,
  during?: { onStart(): Promise<void>; onEnd(): Promise<void> },
): Promise<Window> {
  await sleep(ctx.part.warmupSec * 1000)
  const before = await ask<Counts>(clients.child, 'counts')
  await during?.onStart()
  const cpu = cpuWindow({ server, clients: clients.cpuMs, database: ctx.database.cpuMs })
  const started = performance.now()
  await sleep(ctx.part.durationSec * 1000)
  const after = await ask<Counts>(clients.child, 'counts')
  const seconds = (performance.now() - started) / 1000
  await during?.onEnd()
  const cpuUse = cpu()
  return {
    seconds,
    deliveriesPerSec: (after.received - before.received) / seconds,
    counts: after,
    cpu: cpuUse,
  }
}

async function connect(clients: ChildServer, request: ConnectRequest): Promise<ConnectResult> {
  const result = await ask<ConnectResult>(clients.child, 'connect', { ...request }, 120_000)
  if (result.failed > 0)
    throw new Error(`${result.failed} of ${request.count} clients failed to connect: ${result.firstError}`)
  return result
}

async function runOne(
  ctx: BenchContext,
  clients: ChildServer,
  raw: ChildServer,
  ids: string[],
  subscribers: number,
  counter: { n: number },
): Promise<FanoutRun> {
  // The ceiling first: it sets the input rate.
  const rawConnect = await connect(clients, { url: raw.url, count: subscribers, subscribe: {} })
  await post(`${raw.url}/start`, { rate: 0 })
  const rawWindow = await measureWindow(ctx, clients, raw.cpuMs)
  await post(`${raw.url}/stop`, {})
  await ask(clients.child, 'close')

  const rate = ctx.options.fanoutRate ?? rawWindow.deliveriesPerSec / subscribers
  const serviceConnect = await connect(clients, {
    url: ctx.service.url,
    token: ctx.service.apiKey,
    count: subscribers,
    subscribe: {},
  })
  const head = await ctx.store.openFeedHead(ctx.service.tenantId)
  const driver = steadyBatches(ctx, ids, rate, counter)
  let sentBefore = 0
  let seqBefore = 0
  let sentAfter = 0
  let seqAfter = 0
  let serviceWindow: Window
  try {
    serviceWindow = await measureWindow(ctx, clients, ctx.service.cpuMs, {
      onStart: async () => {
        sentBefore = driver.sent()
        seqBefore = await head.lastSeq()
      },
      onEnd: async () => {
        sentAfter = driver.sent()
        seqAfter = await head.lastSeq()
      },
    })
  } finally {
    await driver.stop()
    await head.close()
  }
  await ask(clients.child, 'close')
  const drained = await waitIdle(ctx.service)
  const eventsPerSec = (seqAfter - seqBefore) / serviceWindow.seconds
  return {
    subscribers,
    connectSec: { raw: rawConnect.seconds, service: serviceConnect.seconds },
    raw: { ...rawWindow, broadcastsPerSec: rawWindow.deliveriesPerSec / subscribers },
    service: {
      ...serviceWindow,
      inputPerSec: rate,
      sentPerSec: (sentAfter - sentBefore) / serviceWindow.seconds,
      eventsPerSec,
      offeredDeliveriesPerSec: eventsPerSec * subscribers,
      refused: driver.refused(),
      drained,
    },
    ratio:
      rawWindow.deliveriesPerSec > 0 ? serviceWindow.deliveriesPerSec / rawWindow.deliveriesPerSec : null,
  }
}

export async function runFanout(ctx: BenchContext): Promise<SectionResult> {
  const ids = await ctx.clonedIds('fan', STATUSES)
  const event = await captureEvent(ctx, 'fan-template')
  const payloadBytes = Buffer.byteLength(JSON.stringify(event))
  const raw = await ctx.startServer('raw-socketio', 'raw-socketio-server.ts')
  const clients = ctx.startWorker('socket-clients', 'socket-clients.ts')
  const runs: FanoutRun[] = []
  const counter = { n: 0 }
  try {
    await post(`${raw.url}/payload`, { args: event })
    for (const subscribers of ctx.options.subscribers)
      runs.push(await runOne(ctx, clients, raw, ids, subscribers, counter))
  } finally {
    await Promise.all([clients.stop(), raw.stop()])
  }

  const pct = (v: number | null) => (v === null ? '–' : String(Math.round(v)))
  // CPU % of one core is CPU ms per second: ÷ deliveries/s × 10⁴ gives µs per delivery.
  const usPer = (w: Window) =>
    w.cpu.server === null || w.deliveriesPerSec === 0
      ? '–'
      : String(Math.round((w.cpu.server * 10_000) / w.deliveriesPerSec))
  const table = {
    columns: [
      'subscribers',
      'input updates/s (asked / sent)',
      'deliveries/s',
      'raw Socket.IO deliveries/s (ceiling)',
      '× raw',
      'server CPU µs/delivery (service / raw)',
      'server CPU % (service / raw)',
      'clients CPU % (service / raw)',
      'dropped as slow',
    ],
    rows: runs.map((r) => [
      thousands(r.subscribers),
      `${thousands(r.service.inputPerSec)} / ${thousands(r.service.sentPerSec)}`,
      thousands(r.service.deliveriesPerSec),
      thousands(r.raw.deliveriesPerSec),
      r.ratio === null ? '–' : `${round(r.ratio, 2)}×`,
      `${usPer(r.service)} / ${usPer(r.raw)}`,
      `${pct(r.service.cpu.server)} / ${pct(r.raw.cpu.server)}`,
      `${pct(r.service.cpu.clients)} / ${pct(r.raw.cpu.clients)}`,
      `${r.service.counts.overflows} of ${thousands(r.subscribers)}`,
    ]),
  }
  const notes = [
    `Each event is ${payloadBytes} bytes of JSON (the service's envelope and \`{ subscription_id }\`, captured ` +
      'from it and replayed by the raw server). Clients: socket.io-client over WebSocket in one worker process; ' +
      `${ctx.part.durationSec} s measured after ${ctx.part.warmupSec} s. The raw server broadcasts (one encoding ` +
      'per event) as fast as the slowest socket drains; the service is then asked for the ceiling’s broadcasts/s ' +
      'as updates through POST /api/status/batch every 10 ms (sent is lower when it answers too slowly: at most ' +
      '32 requests outstanding). "Dropped as slow": subscriptions the service closed with `status.overflow`.',
    ...runs.map(
      (r) =>
        `${thousands(r.subscribers)} subscribers: the service committed ${thousands(r.service.eventsPerSec)} events/s ` +
        `(${thousands(r.service.offeredDeliveriesPerSec)} deliveries/s owed); per client ` +
        `${thousands(r.service.counts.minPerClient)}–${thousands(r.service.counts.maxPerClient)} events in all; ` +
        `${r.service.counts.disconnected} disconnected, ${r.service.refused} updates refused; feed ${r.service.drained ? 'caught up' : 'still behind 30 s later'}; ` +
        `connecting took ${round(r.connectSec.service, 1)} s (raw ${round(r.connectSec.raw, 1)} s); ` +
        `other programs ${pct(r.service.cpu.other)} % / ${pct(r.raw.cpu.other)} % of a core.`,
    ),
  ]
  return {
    name: 'fanout',
    title: 'Fan-out to Socket.IO subscribers (firehose)',
    summary: runs
      .map(
        (r) =>
          `${r.subscribers} subscribers: ${thousands(r.service.deliveriesPerSec)} deliveries/s, raw ` +
          `${thousands(r.raw.deliveriesPerSec)} (${r.ratio === null ? '–' : round(r.ratio, 2)}×)`,
      )
      .join('; '),
    table,
    notes,
    targets: runs.map((r) =>
      target(
        `fan-out ${thousands(r.subscribers)} subscribers ≥ ${TARGET_RATIO}× raw Socket.IO`,
        r.ratio,
        (v) => v >= TARGET_RATIO,
      ),
    ),
    otherCpuPercent: Math.max(0, ...runs.flatMap((r) => [r.service.cpu.other ?? 0, r.raw.cpu.other ?? 0])),
    data: { payloadBytes, runs },
  }
}
