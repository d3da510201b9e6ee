// Overload: does one key flooding at 10× its rate limit hurt another tenant? A server process of its own
// on the service's database with a low limit (so that 10× is a load this machine can send), a victim key
// of one tenant reading at a steady moderate rate, timed request by request in this process, first alone
// and then while a flooding key of another tenant sends 10× its limit from a worker process, once evenly
// spread and once in autocannon's bursts (flood-worker.ts). The limiter should refuse the excess so
// cheaply that the victim barely notices.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cpuWindow, percentile, type CpuPercents } from '../lib/cpu'
import { authHeaders, createStatuses, type ServiceTarget } from '../lib/fixtures'
import type { FloodRequest, FloodResult } from '../workers/flood-worker'
import { ask } from '../lib/ipc'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'

const RPS = 200
const BURST = 400
const VICTIM_RATE = 100
const FLOOD_FACTOR = 10
const FLOOD_CONNECTIONS = 50
// Unanswered requests beyond which the steady flood stops sending: the server is not keeping up.
const MAX_PENDING = 1000
const TARGET_RATIO = 2
const VICTIM_TENANT = 'overload-victim'
const FLOODER_TENANT = 'overload-flooder'

interface VictimRun {
  requests: number
  non2xx: number
  errors: number
  latencyMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null }
  cpu: CpuPercents<'server' | 'database' | 'flooder'>
}

interface FloodRun extends FloodResult {
  shape: FloodRequest['shape']
  /** Requests a second sent, as a multiple of the limit: 1 is a neighbour using its limit, no excess. */
  factor: number
  /** The victim's reads meanwhile, and their p99 over the p99 alone. */
  victim: VictimRun
  ratio: number | null
  admitted: number
  limited: number
  other: number
  refusedCounted: number
  sentPerSec: number
  steadyAdmittedPerSec: number
}

/** A key of a new tenant, made with the keys CLI on the service's database. */
function createKey(ctx: BenchContext, tenant: string): string {
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ctx.rootDir, 'scripts', 'keys.ts'),
      'create',
      '--tenant',
      tenant,
      '--scopes',
      'status:read,status:write',
    ],
    { cwd: ctx.rootDir, env: { ...process.env, DATABASE_URL: ctx.store.url }, encoding: 'utf8' },
  )
  const key = result.stdout.trim().split('\n').at(-1)?.trim()
  if (result.status !== 0 || !key?.startsWith('st_'))
    throw new Error(`npm run keys -- create --tenant ${tenant} failed:\n${result.stderr}`)
  return key
}

/** `rate` GETs a second, evenly spaced, each timed from just before it is sent to the end of its body. */
async function steadyReads(
  victim: ServiceTarget,
  ids: string[],
  rate: number,
  durationSec: number,
): Promise<Omit<VictimRun, 'cpu'>> {
  const headers = authHeaders(victim.apiKey)
  const count = Math.round(rate * durationSec)
  const interval = 1000 / rate
  const samples: number[] = []
  let non2xx = 0
  let errors = 0
  const requests: Promise<void>[] = []
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    const wait = started + i * interval - performance.now()
    if (wait >= 1) await sleep(wait)
    const sentAt = performance.now()
    requests.push(
      fetch(`${victim.url}/api/status/${ids[i % ids.length]}`, { headers }).then(
        async (res) => {
          await res.arrayBuffer()
          samples.push(performance.now() - sentAt)
          if (res.status !== 200) non2xx += 1
        },
        () => {
          errors += 1
        },
      ),
    )
  }
  await Promise.all(requests)
  return {
    requests: count,
    non2xx,
    errors,
    latencyMs: {
      p50: percentile(samples, 50),
      p90: percentile(samples, 90),
      p99: percentile(samples, 99),
      max: percentile(samples, 100),
    },
  }
}

/** `status_rate_limited_total` for `tenant` on the instance's /metrics. */
async function refusedCount(url: string, tenant: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`status_rate_limited_total{tenant="${tenant}"}`))
  return line ? Number(line.split(' ').at(-1)) : 0
}

export async function runOverload(ctx: BenchContext): Promise<SectionResult> {
  const durationSec = ctx.options.durationSec
  const warmupSec = Math.max(ctx.options.warmupSec, 1)
  const floodRate = FLOOD_FACTOR * RPS
  const instance = await ctx.startInstance('overload', {
    RATE_LIMIT_RPS: String(RPS),
    RATE_LIMIT_BURST: String(BURST),
  })
  const flooder = ctx.startWorker('flooder', 'flood-worker.ts')
  try {
    const victim: ServiceTarget = { url: instance.url, apiKey: createKey(ctx, VICTIM_TENANT) }
    const flooding: ServiceTarget = { url: instance.url, apiKey: createKey(ctx, FLOODER_TENANT) }
    const victimIds = await createStatuses(victim, 'victim', 50)
    const [floodId] = await createStatuses(flooding, 'flooder', 1)
    const processes = { server: instance.cpuMs, database: ctx.database.cpuMs, flooder: flooder.cpuMs }

    const victimRun = async () => {
      const cpu = cpuWindow(processes)
      const run = await steadyReads(victim, victimIds, VICTIM_RATE, durationSec)
      return { ...run, cpu: cpu() }
    }

    await steadyReads(victim, victimIds, VICTIM_RATE, warmupSec)
    const alone = await victimRun()

    // Each flood starts with a full bucket and spends its burst during the warm-up, so the victim is
    // measured against the flood's steady state.
    const flood = async (shape: FloodRequest['shape'], factor = FLOOD_FACTOR): Promise<FloodRun> => {
      await sleep((BURST / RPS) * 1000 + 500)
      const refusedBefore = await refusedCount(instance.url, FLOODER_TENANT)
      const floodSec = warmupSec + durationSec + 1
      const request: FloodRequest = {
        url: instance.url,
        path: `/api/status/${floodId}`,
        apiKey: flooding.apiKey,
        shape,
        rate: factor * RPS,
        connections: FLOOD_CONNECTIONS,
        durationSec: floodSec,
        markSec: warmupSec,
        maxPending: MAX_PENDING,
      }
      const result = ask<FloodResult>(flooder.child, 'flood', { ...request }, (floodSec + 30) * 1000)
      await sleep(warmupSec * 1000)
      const victimDuring = await victimRun()
      const r = await result
      const refused = (await refusedCount(instance.url, FLOODER_TENANT)) - refusedBefore
      const admitted = r.statusCodes['200'] ?? 0
      const limited = r.statusCodes['429'] ?? 0
      return {
        shape,
        factor,
        victim: victimDuring,
        ratio:
          alone.latencyMs.p99 && victimDuring.latencyMs.p99
            ? victimDuring.latencyMs.p99 / alone.latencyMs.p99
            : null,
        ...r,
        admitted,
        limited,
        other: r.requests - admitted - limited,
        refusedCounted: refused,
        sentPerSec: r.requests / r.durationSec,
        steadyAdmittedPerSec: r.afterMarkSec > 0 ? r.admittedAfterMark / r.afterMarkSec : 0,
      }
    }
    const floods = [await flood('steady'), await flood('autocannon')]
    // The same bursts with no excess: what a neighbour spending its own limit costs the victim, so that
    // what the flood's excess adds can be told apart from it.
    const withinLimit = await flood('autocannon', 1)
    const autocannonFlood = floods[1]

    const ms = (v: number | null) => (v === null ? '–' : String(round(v, 2)))
    const pct = (v: number | null) => (v === null ? '–' : `${Math.round(v)} %`)
    const x = (v: number | null) => (v === null ? '–' : `${round(v, 2)}×`)
    const row = (label: string, run: VictimRun, ratio: number | null) => [
      label,
      thousands(run.requests),
      ms(run.latencyMs.p50),
      ms(run.latencyMs.p90),
      ms(run.latencyMs.p99),
      ms(run.latencyMs.max),
      x(ratio),
      String(run.non2xx + run.errors),
      pct(run.cpu.server),
    ]
    const shapeName = { steady: 'a steady flood', autocannon: 'an autocannon flood' }
    return {
      name: 'overload',
      title: `Overload: a victim tenant at ${VICTIM_RATE} req/s while another floods at ${FLOOD_FACTOR}× its limit`,
      summary:
        `victim p99 ${ms(alone.latencyMs.p99)} ms alone, ` +
        floods
          .map(
            (f) =>
              `${ms(f.victim.latencyMs.p99)} ms during ${shapeName[f.shape]} (${x(f.ratio)}; flooder ` +
              `admitted ${thousands(f.steadyAdmittedPerSec)}/s, ${thousands(f.limited)} refused)`,
          )
          .join(', '),
      table: {
        columns: [
          `victim: GET /api/status/:id at ${VICTIM_RATE}/s`,
          'requests',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'max ms',
          'p99 × alone',
          'failed',
          'server CPU',
        ],
        rows: [
          row('alone', alone, 1),
          ...floods.map((f) =>
            row(`during ${shapeName[f.shape]} of ${thousands(floodRate)} req/s`, f.victim, f.ratio),
          ),
          row(
            `during autocannon bursts of ${thousands(RPS)} req/s (the neighbour's own limit, no excess)`,
            withinLimit.victim,
            withinLimit.ratio,
          ),
        ],
      },
      notes: [
        `A server process of its own on the service's database with RATE_LIMIT_RPS=${RPS}, RATE_LIMIT_BURST=${BURST}; ` +
          `victim and flooder are keys of two tenants. The victim's GETs are evenly spaced and timed one by one in ` +
          `the bench process (${durationSec} s measured after ${warmupSec} s). The flooder, in a worker process, ` +
          `sends GET /api/status/:id of its own status at ${thousands(floodRate)} req/s from ${warmupSec} s before ` +
          `the victim's measured part to 1 s after it, with a full bucket at the start, in two shapes: steady ` +
          `(evenly spread through each second, node:http with up to ${FLOOD_CONNECTIONS} keep-alive sockets) and ` +
          `autocannon (overallRate over ${FLOOD_CONNECTIONS} connections, which sends each second's quota as fast ` +
          `as the answers come: ${FLOOD_CONNECTIONS} requests at a time until it is spent, then nothing).`,
        ...[...floods, withinLimit].map(
          (f) =>
            `Flooder, ${f.shape}${f.factor === 1 ? ' within its limit' : ''}: ${thousands(f.requests)} requests in ${round(f.durationSec, 1)} s ` +
            `(${thousands(f.sentPerSec)}/s${f.skipped > 0 ? `, ${thousands(f.skipped)} not sent while ${thousands(MAX_PENDING)} were unanswered` : ''}), ` +
            `${thousands(f.admitted)} admitted (${thousands(f.steadyAdmittedPerSec)}/s once its burst of ${BURST} was ` +
            `spent, against a limit of ${RPS}/s), ${thousands(f.limited)} refused with 429 ` +
            `(status_rate_limited_total counted ${thousands(f.refusedCounted)})` +
            `${f.other > 0 ? `, ${thousands(f.other)} other answers` : ''}, ${f.errors} connection errors, ` +
            `${f.timeouts} timeouts. CPU meanwhile: server ${pct(f.victim.cpu.server)}, flooder ` +
            `${pct(f.victim.cpu.flooder)}, bench ${pct(f.victim.cpu.bench)}` +
            `${ctx.store.kind === 'postgres' ? `, PostgreSQL ${pct(f.victim.cpu.database)}` : ''}, other programs ` +
            `${pct(f.victim.cpu.other)}.`,
        ),
      ],
      targets: [
        ...floods.flatMap((f) => [
          target(
            `victim p99 during ${shapeName[f.shape]} ≤ ${TARGET_RATIO}× alone`,
            f.ratio,
            (v) => v <= TARGET_RATIO,
          ),
          target(
            `flooder (${f.shape}) admitted once its burst is spent within 10 % of ${RPS}/s`,
            f.steadyAdmittedPerSec,
            (v) => Math.abs(v - RPS) <= RPS * 0.1,
          ),
        ]),
        target(
          `victim p99 during the autocannon flood ≤ ${TARGET_RATIO}× during the same bursts within the limit (what the excess adds)`,
          autocannonFlood.victim.latencyMs.p99 && withinLimit.victim.latencyMs.p99
            ? autocannonFlood.victim.latencyMs.p99 / withinLimit.victim.latencyMs.p99
            : null,
          (v) => v <= TARGET_RATIO,
        ),
      ],
      otherCpuPercent: Math.max(
        alone.cpu.other ?? 0,
        ...[...floods, withinLimit].map((f) => f.victim.cpu.other ?? 0),
      ),
      data: { rps: RPS, burst: BURST, victimRate: VICTIM_RATE, floodRate, alone, floods, withinLimit },
    }
  } finally {
    await flooder.stop()
    await instance.stop()
  }
}
