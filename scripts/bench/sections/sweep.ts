// The liveness sweep at scale (SPEC §11): a fresh SQLite file seeded with --filter-rows statuses
// (1,000,000 by default; scripts/lib/seed-rows.ts), 10,000 of them processing with a heartbeat timeout.
// Their due times are moved into the past in one statement, so they all become due at the same moment,
// while PUTs of other statuses run at a steady rate: how long until every one is swept, and what the
// sweep does to the PUTs' p99 against a window just before it.
import autocannon from 'autocannon'
import BetterSqlite3 from 'better-sqlite3'
import { seedStatuses } from '../../lib/seed-rows'
import { cpuWindow } from '../lib/cpu'
import { authHeaders } from '../lib/fixtures'
import { startSeededService } from '../lib/seeded-service'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'

const TENANT = 'default'
const DUE = 10_000
const PUT_IDS = 1_000
/** A steady load, as producers' updates are: the sweep's cost shows as latency, not as lost throughput. */
const PUT_RATE = 1_000
const PUT_CONNECTIONS = 20
const TARGET_SWEEP_MS = 5_000
const TARGET_P99_GROWTH = 0.1

const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00')

interface Window {
  requests: number
  non2xx: number
  p50: number
  p99: number
}

function steadyPuts(url: string, apiKey: string, ids: string[], seconds: number, offset: number) {
  let n = offset
  return new Promise<Window>((resolve, reject) => {
    autocannon(
      {
        url,
        connections: PUT_CONNECTIONS,
        overallRate: PUT_RATE,
        duration: seconds,
        timeout: 10,
        headers: { ...authHeaders(apiKey), 'content-type': 'application/json' },
        requests: [
          {
            setupRequest: (req) => {
              const i = n++
              return {
                ...req,
                method: 'PUT',
                path: `/api/status/${ids[i % ids.length]}`,
                body: JSON.stringify({ progress_percentage: (Math.floor(i / ids.length) % 99) + 1 }),
              }
            },
          },
        ],
      },
      (err, result) => {
        if (err) return reject(err)
        resolve({
          requests: result.requests.total,
          non2xx: result.non2xx,
          p50: result.latency.p50,
          p99: result.latency.p99,
        })
      },
    )
  })
}

export async function runSweep(ctx: BenchContext): Promise<SectionResult> {
  const rows = ctx.options.filterRows
  const databaseUrl = await ctx.database.create('sweep')
  const file = databaseUrl.replace(/^file:/, '')
  process.stdout.write(`seeding ${thousands(rows)} statuses … `)
  const seeded = seedStatuses({ file, count: rows, tenantId: TENANT, seed: 2 })

  // 10,000 processing statuses watched by a heartbeat timeout of an hour (not yet due), and 1,000 other
  // processing ones for the PUTs.
  const db = new BetterSqlite3(file, { timeout: 10_000 })
  const processing = db
    .prepare("SELECT status_id FROM statuses WHERE tenant_id = ? AND status = 'processing' LIMIT ?")
    .pluck()
    .all(TENANT, DUE + PUT_IDS) as string[]
  if (processing.length < DUE + PUT_IDS)
    throw new Error(`the seed has ${processing.length} processing statuses, fewer than ${DUE + PUT_IDS}`)
  const due = processing.slice(0, DUE)
  const putIds = processing.slice(DUE)
  const setDue = db.prepare(
    `UPDATE statuses SET heartbeat_timeout_s = 3600, last_heartbeat_at = ?, stalls_at = ?, due_at = ?
     WHERE tenant_id = ? AND status_id IN (SELECT value FROM json_each(?))`,
  )
  const now = Date.now()
  setDue.run(iso(now), iso(now + 3_600_000), iso(now + 3_600_000), TENANT, JSON.stringify(due))
  const swept = db.prepare(
    `SELECT COUNT(*) FROM statuses WHERE tenant_id = ? AND status = 'retry_pending'
       AND status_id IN (SELECT value FROM json_each(?))`,
  )
  const sweptCount = () => swept.pluck().get(TENANT, JSON.stringify(due)) as number

  const { server, apiKey } = await startSeededService(ctx, 'sweep-service', databaseUrl)
  try {
    const seconds = ctx.part.durationSec
    await steadyPuts(server.url, apiKey, putIds, ctx.part.warmupSec, 0)
    const before = await steadyPuts(server.url, apiKey, putIds, seconds, 100_000)

    // Now all 10,000 become due at once: their last heartbeat an hour and a second ago.
    const cpu = cpuWindow({ server: server.cpuMs })
    const during = steadyPuts(server.url, apiKey, putIds, seconds, 200_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const dueAt = Date.now() - 1000
    setDue.run(iso(dueAt - 3_600_000), iso(dueAt), iso(dueAt), TENANT, JSON.stringify(due))
    const madeDue = performance.now()
    let sweptMs: number | null = null
    while (performance.now() - madeDue < 30_000) {
      if (sweptCount() === DUE) {
        sweptMs = performance.now() - madeDue
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const meanwhile = await during
    const cpuUse = cpu()
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    const lagSum = Number(/^status_sweep_lag_seconds_sum (\S+)$/m.exec(metrics)?.[1] ?? NaN)
    const lagCount = Number(/^status_sweep_lag_seconds_count (\S+)$/m.exec(metrics)?.[1] ?? NaN)
    const growth = before.p99 > 0 ? meanwhile.p99 / before.p99 - 1 : null
    const ms = (v: number | null) => (v === null ? '–' : String(round(v, 1)))
    return {
      name: 'sweep',
      title: `Liveness sweep: ${thousands(DUE)} of ${thousands(rows)} statuses due at once`,
      summary:
        `swept in ${ms(sweptMs)} ms; PUT p99 ${before.p99} ms before, ${meanwhile.p99} ms during ` +
        `(${growth === null ? '–' : `${round(growth * 100, 0)} %`})`,
      table: {
        columns: ['window', 'PUTs', 'non-2xx', 'p50 ms', 'p99 ms'],
        rows: [
          [
            'before the sweep',
            String(before.requests),
            String(before.non2xx),
            ms(before.p50),
            ms(before.p99),
          ],
          [
            'during the sweep',
            String(meanwhile.requests),
            String(meanwhile.non2xx),
            ms(meanwhile.p50),
            ms(meanwhile.p99),
          ],
        ],
      },
      notes: [
        `A fresh file seeded with ${thousands(rows)} statuses (scripts/lib/seed-rows.ts, seed 2, ` +
          `${(seeded.ms / 1000).toFixed(1)} s). ${thousands(DUE)} processing ones get a heartbeat timeout; ` +
          `one UPDATE from the bench (another connection to the file) then moves their last heartbeat ` +
          `an hour and a second into the past, so they are all due at once, 0.5 s into the second window ` +
          `of PUTs. Swept: the time from that UPDATE until all ${thousands(DUE)} are retry_pending ` +
          `(polled every 20 ms), with SWEEP_INTERVAL_MS at its default of 1 s, so up to 1 s of it is ` +
          `waiting for the next look. PUTs: ${PUT_RATE}/s steady from ${PUT_CONNECTIONS} connections ` +
          `over ${thousands(PUT_IDS)} other processing statuses, ${seconds} s per window after ` +
          `${ctx.part.warmupSec} s warm-up. Mean sweep lag (status_sweep_lag_seconds): ` +
          `${Number.isFinite(lagSum / lagCount) ? round((lagSum / lagCount) * 1000, 0) : '–'} ms over ` +
          `${Number.isFinite(lagCount) ? lagCount : '–'} pages. Server CPU during ` +
          `${Math.round(cpuUse.server ?? 0)} %, other programs ${Math.round(cpuUse.other ?? 0)} %.`,
      ],
      targets: [
        target(
          `all ${thousands(DUE)} due statuses swept ≤ ${TARGET_SWEEP_MS / 1000} s`,
          sweptMs,
          (v) => v <= TARGET_SWEEP_MS,
        ),
        target(
          `the sweep adds ≤ ${TARGET_P99_GROWTH * 100} % to PUT p99`,
          growth === null ? null : round(growth * 100, 1),
          (v) => v <= TARGET_P99_GROWTH * 100,
        ),
      ],
      otherCpuPercent: cpuUse.other,
      data: { rows, due: DUE, sweptMs, before, during: meanwhile, seed: seeded, lagSum, lagCount },
    }
  } finally {
    db.close()
    await server.stop()
  }
}
