// Two instances on one PostgreSQL database: a second server process (B) next to the service (A), same
// database and admin key. PUT /api/status/:id and POST /api/status/batch are measured against A alone,
// then with the same connections split over A and B (an autocannon on each, at once, on disjoint
// statuses); then update → subscriber latency with the updates sent to A and the subscribers on A, and
// on B. B learns of A's writes from A's wake-up over the Socket.IO PostgreSQL adapter (or its own poll).
import { cpuWindow, type CpuPercents } from '../lib/cpu'
import { authHeaders, batchBody, serviceStats, waitIdle, type ServiceTarget } from '../lib/fixtures'
import { runLatency } from './latency'
import { measureHttp, type HttpLoad, type Measurement } from '../lib/load'
import type { ChildServer } from '../lib/processes'
import { round, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'

const PUT_STATUSES = 1_000
const BATCH_STATUSES = 10_000
const ITEMS_PER_REQUEST = 1_000
const json = { 'content-type': 'application/json' }

interface Instance {
  target: ServiceTarget
  cpuMs(): number | null
}

interface Split {
  instances: number
  /** Requests/s summed over the instances; batch: items accepted (202) per second. */
  perSec: number
  /** Batch: updates the updaters committed per second, summed over the instances. */
  committedPerSec: number | null
  p50: number
  p99: number
  non2xx: number
  errors: number
  cpu: CpuPercents<'a' | 'b' | 'database'>
}

/** Every pass over `ids` moves each status's progress by one, so every PUT is a real change. */
const putLoad = (instance: Instance, ids: string[]): HttpLoad => ({
  url: instance.target.url,
  headers: { ...authHeaders(instance.target.apiKey), ...json },
  next: (n) => ({
    method: 'PUT',
    path: `/api/status/${ids[n % ids.length]}`,
    body: JSON.stringify({ progress_percentage: (Math.floor(n / ids.length) % 99) + 1 }),
  }),
})

/** Request n sets slice n % slices of `ids` to a progress that moves by one every pass. */
const batchLoad = (instance: Instance, ids: string[]): HttpLoad => {
  const slices = ids.length / ITEMS_PER_REQUEST
  return {
    url: instance.target.url,
    headers: { ...authHeaders(instance.target.apiKey), ...json },
    next: (n) => ({
      method: 'POST',
      path: '/api/status/batch',
      body: batchBody(
        ids.slice((n % slices) * ITEMS_PER_REQUEST, ((n % slices) + 1) * ITEMS_PER_REQUEST),
        (Math.floor(n / slices) % 99) + 1,
      ),
    }),
  }
}

/**
 * Runs `load(instance, ids)` on each of `instances` at once, the ids and connections split between
 * them, after a warm-up; sums the rates. Each instance's statuses are its own, so they never contend
 * for one row (they still take turns on the tenant's row, which orders the feed).
 */
async function measureSplit(
  ctx: BenchContext,
  instances: Instance[],
  ids: string[],
  connections: number,
  load: (instance: Instance, ids: string[]) => HttpLoad,
  itemsPerRequest: number,
  durationSec: number,
  warmupSec: number,
): Promise<Split> {
  const share = Math.max(1, Math.floor(connections / instances.length))
  const per = ids.length / instances.length
  const loads = instances.map((instance, i) => load(instance, ids.slice(i * per, (i + 1) * per)))
  if (warmupSec > 0)
    await Promise.all(
      loads.map((l) => measureHttp(l, { connections: share, durationSec: warmupSec, warmupSec: 0 })),
    )
  const before = await Promise.all(instances.map((i) => serviceStats(i.target)))
  const [a, b] = instances
  const cpu = cpuWindow({ a: a!.cpuMs, b: b?.cpuMs ?? (() => 0), database: ctx.database.cpuMs })
  const started = performance.now()
  const results: Measurement[] = await Promise.all(
    loads.map((l) => measureHttp(l, { connections: share, durationSec, warmupSec: 0 })),
  )
  const seconds = (performance.now() - started) / 1000
  const cpuUse = cpu()
  const after = await Promise.all(instances.map((i) => serviceStats(i.target)))
  const committed = after.reduce(
    (sum, s, i) => sum + s.updater.updates_written - before[i]!.updater.updates_written,
    0,
  )
  await Promise.all(instances.map((i) => waitIdle(i.target)))
  const accepted = results.reduce(
    (sum, m) => sum + (m.statusCodes[itemsPerRequest > 1 ? '202' : '200'] ?? 0),
    0,
  )
  return {
    instances: instances.length,
    perSec: (accepted * itemsPerRequest) / seconds,
    committedPerSec: itemsPerRequest > 1 ? committed / seconds : null,
    p50: Math.max(...results.map((m) => m.latencyMs.p50)),
    p99: Math.max(...results.map((m) => m.latencyMs.p99)),
    non2xx: results.reduce((sum, m) => sum + m.non2xx, 0),
    errors: results.reduce((sum, m) => sum + m.errors, 0),
    cpu: cpuUse,
  }
}

export async function runInstances(ctx: BenchContext): Promise<SectionResult> {
  let b: ChildServer | undefined
  try {
    b = await ctx.startInstance('service-b')
    const a: Instance = { target: ctx.service, cpuMs: ctx.service.cpuMs }
    const second: Instance = { target: { url: b.url, apiKey: ctx.service.apiKey }, cpuMs: b.cpuMs }
    const { durationSec, warmupSec, connections } = ctx.settings
    const part = ctx.part

    // Fixtures of their own, one set per run, so every update is a change from where its status is.
    const putOne = await measureSplit(
      ctx,
      [a],
      await ctx.clonedIds('twoput1', PUT_STATUSES),
      connections,
      putLoad,
      1,
      durationSec,
      warmupSec,
    )
    const putTwo = await measureSplit(
      ctx,
      [a, second],
      await ctx.clonedIds('twoput2', PUT_STATUSES),
      connections,
      putLoad,
      1,
      durationSec,
      warmupSec,
    )
    const batchConnections = Math.max(2, ctx.options.batchConnections)
    const batchOne = await measureSplit(
      ctx,
      [a],
      await ctx.clonedIds('twobatch1', BATCH_STATUSES),
      batchConnections,
      batchLoad,
      ITEMS_PER_REQUEST,
      part.durationSec,
      part.warmupSec,
    )
    const batchTwo = await measureSplit(
      ctx,
      [a, second],
      await ctx.clonedIds('twobatch2', BATCH_STATUSES),
      batchConnections,
      batchLoad,
      ITEMS_PER_REQUEST,
      part.durationSec,
      part.warmupSec,
    )

    // A quarter of --latency-rate, so neither instance is busy and the wait is the notification's.
    const rate = Math.max(1, Math.round(ctx.options.latencyRate / 4))
    const sameLatency = await runLatency(ctx, { rate, prefix: 'twolat1' })
    const crossLatency = await runLatency(ctx, {
      rate,
      prefix: 'twolat2',
      subscribeTo: second.target,
    })
    type Parts = { parts: { eventMs: { p50: number | null; p99: number | null; max: number | null } }[] }
    const same = (sameLatency.data as unknown as Parts).parts
    const cross = (crossLatency.data as unknown as Parts).parts

    const pct = (v: number | null) => (v === null ? '–' : String(Math.round(v)))
    const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : String(round(v, 1)))
    const split = (label: string, r: Split, unit: string) => [
      `${label}, ${r.instances === 1 ? 'one instance' : 'split over two'}`,
      `${thousands(r.perSec)} ${unit}${r.committedPerSec === null ? '' : ` (${thousands(r.committedPerSec)} committed)`}`,
      `${r.p50} / ${r.p99}`,
      `${pct(r.cpu.a)} / ${r.instances === 1 ? '–' : pct(r.cpu.b)}`,
      pct(r.cpu.database),
      pct(r.cpu.other),
      String(r.non2xx + r.errors),
    ]
    const summary = {
      putOnePerSec: putOne.perSec,
      putTwoPerSec: putTwo.perSec,
      batchOnePerSec: batchOne.perSec,
      batchTwoPerSec: batchTwo.perSec,
      batchOneCommittedPerSec: batchOne.committedPerSec,
      batchTwoCommittedPerSec: batchTwo.committedPerSec,
      samePutP99: same[0]?.eventMs.p99 ?? null,
      sameBatchP99: same[1]?.eventMs.p99 ?? null,
      crossPutP50: cross[0]?.eventMs.p50 ?? null,
      crossPutP99: cross[0]?.eventMs.p99 ?? null,
      crossBatchP50: cross[1]?.eventMs.p50 ?? null,
      crossBatchP99: cross[1]?.eventMs.p99 ?? null,
    }
    const latencyRow = (label: string, parts: Parts['parts'], i: number) => [
      label,
      `p50 ${ms(parts[i]?.eventMs.p50)} / p99 ${ms(parts[i]?.eventMs.p99)} / max ${ms(parts[i]?.eventMs.max)} ms`,
      '–',
      '–',
      '–',
      '–',
      '–',
    ]
    return {
      name: 'instances',
      title: 'Two instances on one PostgreSQL database',
      summary:
        `PUT ${thousands(putOne.perSec)} → ${thousands(putTwo.perSec)} req/s, batch ` +
        `${thousands(batchOne.perSec)} → ${thousands(batchTwo.perSec)} updates/s; A → subscriber on B p99 ` +
        `${ms(summary.crossPutP99)} ms (PUT), ${ms(summary.crossBatchP99)} ms (batch)`,
      table: {
        columns: [
          'load',
          'rate',
          'p50 / p99 ms',
          'CPU % A / B',
          'PostgreSQL CPU %',
          'other CPU %',
          'non-2xx + errors',
        ],
        rows: [
          split(`PUT /api/status/:id, ${connections} connections`, putOne, 'req/s'),
          split(`PUT /api/status/:id, ${connections} connections`, putTwo, 'req/s'),
          split(`POST /api/status/batch, ${batchConnections} connections`, batchOne, 'updates/s'),
          split(`POST /api/status/batch, ${batchConnections} connections`, batchTwo, 'updates/s'),
          latencyRow(`PUT on A → subscriber on A, ${rate}/s`, same, 0),
          latencyRow(`PUT on A → subscriber on B, ${rate}/s`, cross, 0),
          latencyRow(`batch (1 item) on A → subscriber on A, ${rate}/s`, same, 1),
          latencyRow(`batch (1 item) on A → subscriber on B, ${rate}/s`, cross, 1),
        ],
      },
      notes: [
        'A is the service the other scenarios used; B a second `node dist/src/server.js` on the same database ' +
          '(same admin key). Split: the same connections, half to each instance (one autocannon each, at once), ' +
          'each on its own half of the statuses; rate is the sum, p50/p99 the worse of the two. PUT for ' +
          `${durationSec} s after ${warmupSec} s, batch (${thousands(ITEMS_PER_REQUEST)} items a request over ` +
          `${thousands(BATCH_STATUSES)} statuses) for ${part.durationSec} s after ${part.warmupSec} s; committed is ` +
          "`/api/stats` updater.updates_written summed over both. Both instances' writers lock the tenant's row " +
          'to take the next `seq`, so writes of one tenant take turns across instances as within one. Batch ' +
          "non-2xx are 503s: the updater's queue (UPDATER_MAX_QUEUE) was full, as accepting outran committing.",
        `Latency: ${rate} single updates/s (a quarter of --latency-rate, so neither instance is busy) sent to A, ` +
          'with 10 firehose subscribers on A, then on B. A announces each commit to B over the Socket.IO ' +
          'PostgreSQL adapter (LISTEN/NOTIFY), and B then reads the feed, so on B the latency is the ' +
          "same-instance latency plus one NOTIFY round trip and B's feed read; the poll (EVENT_POLL_MS) is only " +
          'the fallback. ' +
          'The machine has 2 cores for A, B, PostgreSQL, autocannon and the subscribers, so two instances share ' +
          'the cores one had: the split measures contention, not the scaling of a second machine.',
      ],
      targets: [],
      otherCpuPercent: Math.max(
        0,
        ...[putOne, putTwo, batchOne, batchTwo].map((r) => r.cpu.other ?? 0),
        sameLatency.otherCpuPercent ?? 0,
        crossLatency.otherCpuPercent ?? 0,
      ),
      data: {
        summary,
        put: { one: putOne, two: putTwo },
        batch: { one: batchOne, two: batchTwo },
        latency: { rate, sameInstance: sameLatency.data, crossInstance: crossLatency.data },
      },
    }
  } finally {
    await b?.stop()
  }
}
