// Batch ingest, three ways over the same kind of rows, in one run:
//   (a) HTTP: POST /api/status/batch, 1,000 progress updates a request over 10,000 statuses, from a few
//       concurrent connections; accepted items/s (202s), and what the updater committed meanwhile;
//   (b) the batched updater in-process (updater-inprocess.ts, a worker): no HTTP, no validation;
//   (c) the ceiling: the raw driver (better-sqlite3, or pg on PostgreSQL) writing the same updates and
//       their event rows, nothing else.
import { cpuWindow } from '../lib/cpu'
import { authHeaders, batchBody, serviceStats, waitIdle } from '../lib/fixtures'
import { ask } from '../lib/ipc'
import { measureHttp } from '../lib/load'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'
import type { InProcessRequest, InProcessResult } from '../workers/updater-inprocess'

const STATUSES = 10_000
const ITEMS_PER_REQUEST = 1_000
// The service's defaults (src/config.ts); the in-process run uses the same.
const UPDATER = { batchSize: 500, flushMs: 5, maxQueue: 100_000 }

const TARGET_RATE = 90_000
const TARGET_RATIO = 0.5
/** The one writer's own target: a committed write with its event per distinct status, no HTTP. */
const WRITER_TARGET_RATE = 50_000

export async function httpBatch(ctx: BenchContext) {
  const ids = await ctx.clonedIds('batch', STATUSES)
  const slices = STATUSES / ITEMS_PER_REQUEST
  // One counter over warm-up and measurement: request n sets slice n % 10 to a progress that moves by one
  // every pass over the ids, so every item is a real change (a new version and an event).
  let n = 0
  const load = {
    url: ctx.service.url,
    serverCpuMs: ctx.service.cpuMs,
    headers: { ...authHeaders(ctx.service.apiKey), 'content-type': 'application/json' },
    next: () => {
      const i = n++
      const slice = i % slices
      const progress = (Math.floor(i / slices) % 99) + 1
      return {
        method: 'POST' as const,
        path: '/api/status/batch',
        body: batchBody(ids.slice(slice * ITEMS_PER_REQUEST, (slice + 1) * ITEMS_PER_REQUEST), progress),
      }
    },
  }
  const settings = { connections: ctx.options.batchConnections, warmupSec: 0 }
  if (ctx.part.warmupSec > 0) await measureHttp(load, { ...settings, durationSec: ctx.part.warmupSec })

  const head = await ctx.store.openFeedHead(ctx.service.tenantId)
  try {
    const before = await serviceStats(ctx.service)
    const seqBefore = await head.lastSeq()
    const cpu = cpuWindow({ server: ctx.service.cpuMs, database: ctx.database.cpuMs })
    const started = performance.now()
    const m = await measureHttp(load, { ...settings, durationSec: ctx.part.durationSec })
    const seconds = (performance.now() - started) / 1000
    const after = await serviceStats(ctx.service)
    const events = (await head.lastSeq()) - seqBefore
    const cpuUse = cpu()
    const drainStarted = performance.now()
    const drained = await waitIdle(ctx.service)
    const accepted = (m.statusCodes['202'] ?? 0) * ITEMS_PER_REQUEST
    return {
      connections: ctx.options.batchConnections,
      itemsPerRequest: ITEMS_PER_REQUEST,
      statuses: STATUSES,
      seconds,
      requests: m.requests,
      statusCodes: m.statusCodes,
      errors: m.errors,
      latencyMs: m.latencyMs,
      acceptedPerSec: accepted / seconds,
      committedPerSec: (after.updater.updates_written - before.updater.updates_written) / seconds,
      eventsPerSec: events / seconds,
      queueDepthAfter: after.queue_depth,
      drainSec: drained ? (performance.now() - drainStarted) / 1000 : null,
      meanFlushMs: after.updater.mean_flush_ms,
      cpu: cpuUse,
    }
  } finally {
    await head.close()
  }
}

/** `database` names the run's fresh database: each run needs its own. */
export async function inProcess(ctx: BenchContext, database = 'inprocess'): Promise<InProcessResult> {
  const worker = ctx.startWorker('updater-inprocess', 'updater-inprocess.ts')
  try {
    const request: InProcessRequest = {
      url: await ctx.database.create(database),
      statuses: STATUSES,
      updates: ctx.options.updates,
      chunk: ITEMS_PER_REQUEST,
      window: STATUSES,
      ...UPDATER,
    }
    return await ask<InProcessResult>(worker.child, 'run', { ...request }, 300_000)
  } finally {
    await worker.stop()
  }
}

export async function runBatchIngest(ctx: BenchContext): Promise<SectionResult> {
  const http = await httpBatch(ctx)
  const { updater, raw } = await inProcess(ctx)
  const ratio = (v: number) => (raw.perSec > 0 ? v / raw.perSec : null)
  const x = (v: number | null) => (v === null ? '–' : `${round(v, 2)}×`)
  const non2xx = Object.entries(http.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, count]) => `${count} × ${code}`)
  const percent = (v: number | null) => (v === null ? '–' : String(Math.round(v)))
  const rawName = `raw ${raw.driver}`
  const dbCpu = ctx.database.kind === 'postgres' ? `, PostgreSQL ${percent(http.cpu.database)} %` : ''

  const table = {
    columns: ['path', 'updates/s', 'committed/s', 'events/s', 'p50 ms', 'p99 ms', 'CPU %', `× ${rawName}`],
    rows: [
      [
        `HTTP POST /api/status/batch (${thousands(ITEMS_PER_REQUEST)} items, ${http.connections} connections)`,
        thousands(http.acceptedPerSec),
        thousands(http.committedPerSec),
        thousands(http.eventsPerSec),
        String(round(http.latencyMs.p50, 1)),
        String(round(http.latencyMs.p99, 1)),
        percent(http.cpu.server),
        `${x(ratio(http.acceptedPerSec))} (committed ${x(ratio(http.committedPerSec))})`,
      ],
      [
        'updater in-process (createServices, no HTTP)',
        thousands(updater.perSec),
        thousands(updater.perSec),
        thousands(updater.events / updater.seconds),
        '–',
        '–',
        percent(updater.cpuPercent),
        x(ratio(updater.perSec)),
      ],
      [
        `${rawName}, ${raw.batchSize} rows a transaction (ceiling)`,
        thousands(raw.perSec),
        thousands(raw.perSec),
        thousands(raw.events / raw.seconds),
        '–',
        '–',
        percent(raw.cpuPercent),
        '1×',
      ],
    ],
  }
  const notes = [
    `${thousands(STATUSES)} statuses, progress-only updates, every one a real change. HTTP: ` +
      `${thousands(http.requests)} requests in ${round(http.seconds, 1)} s after ${ctx.part.warmupSec} s warm-up; ` +
      `updates/s counts items answered 202 (accepted), committed/s what the updater wrote meanwhile ` +
      '(`/api/stats` updater.updates_written), events/s the rows appended to the feed. ' +
      `${non2xx.length > 0 ? `Refused: ${non2xx.join(', ')}. ` : ''}` +
      `Queue after the run: ${thousands(http.queueDepthAfter)} items, ` +
      `${http.drainSec === null ? 'not drained within 30 s' : `drained in ${round(http.drainSec, 1)} s`}; ` +
      `mean flush ${http.meanFlushMs} ms. CPU: server ${percent(http.cpu.server)} %${dbCpu}, autocannon ` +
      `${percent(http.cpu.bench)} %, other programs ${percent(http.cpu.other)} %.`,
    `In-process: ${thousands(updater.updates)} updates submitted ${thousands(ITEMS_PER_REQUEST)} at a time, at most ` +
      `${thousands(STATUSES)} outstanding (so none merge), batch size ${UPDATER.batchSize}, flush ${UPDATER.flushMs} ms, ` +
      `event delivery not started; results ${JSON.stringify(updater.results)}, ${updater.flushes} flushes. ` +
      (raw.driver === 'pg'
        ? `Raw: the same ${thousands(raw.updates)} updates, per transaction the tenant's last_seq and one statement: ` +
          'UPDATE … FROM unnest(ids, progress) RETURNING version feeding the INSERT of the events ' +
          `(a ${raw.recordBytes}-byte record and changes taken from the updater's events), named prepared ` +
          'statements over one connection, on the same database and schema. '
        : `Raw: the same ${thousands(raw.updates)} updates as prepared UPDATE … RETURNING version + INSERT of the event ` +
          `(a ${raw.recordBytes}-byte record and changes taken from the updater's events) + the tenant's last_seq, ` +
          'WAL, synchronous=NORMAL, on the same file and schema. ') +
      'Both after a warm-up pass over the statuses.',
  ]
  const targets = [
    target(`batch HTTP ≥ ${thousands(TARGET_RATE)} updates/s`, http.acceptedPerSec, (v) => v >= TARGET_RATE),
    target(`batch HTTP ≥ ${TARGET_RATIO}× ${rawName}`, ratio(http.acceptedPerSec), (v) => v >= TARGET_RATIO),
    target(
      `updater in-process ≥ ${thousands(TARGET_RATE)} updates/s`,
      updater.perSec,
      (v) => v >= TARGET_RATE,
    ),
    target(
      `updater in-process ≥ ${thousands(WRITER_TARGET_RATE)} updates/s (distinct statuses, with their events)`,
      updater.perSec,
      (v) => v >= WRITER_TARGET_RATE,
    ),
    target(
      `updater in-process ≥ ${TARGET_RATIO}× ${rawName}`,
      ratio(updater.perSec),
      (v) => v >= TARGET_RATIO,
    ),
  ]
  return {
    name: 'batch',
    title: 'Batch ingest',
    summary:
      `HTTP ${thousands(http.acceptedPerSec)} accepted/s (${thousands(http.committedPerSec)} committed/s, ` +
      `p99 ${http.latencyMs.p99} ms), in-process ${thousands(updater.perSec)}/s, ${rawName} ${thousands(raw.perSec)} rows/s`,
    table,
    notes,
    targets,
    otherCpuPercent: http.cpu.other,
    data: {
      http,
      inProcess: updater,
      raw,
      ratios: {
        httpAccepted: ratio(http.acceptedPerSec),
        httpCommitted: ratio(http.committedPerSec),
        inProcess: ratio(updater.perSec),
      },
    },
  }
}
