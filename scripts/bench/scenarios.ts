import { runBatchIngest } from './sections/batch'
import { runFanout } from './sections/fanout'
import { runFilters } from './sections/filters'
import { runGroups } from './sections/groups'
import { runInstances } from './sections/instances'
import { authHeaders } from './lib/fixtures'
import { runLatency } from './sections/latency'
import { measureHttp, type Measurement } from './lib/load'
import { runOverload } from './sections/overload'
import { runPeer } from './sections/peer'
import { runSchemaCost } from './sections/schema-cost'
import { runSweep } from './sections/sweep'
import type { BenchContext } from './lib/context'
import type { DbKind } from './lib/options'
import type { SectionResult } from './lib/report'

interface ScenarioBase {
  /** Short name for `--only` and the results file. */
  name: string
  title: string
  /** The stores it runs on; all when absent. */
  stores?: DbKind[]
}

/** One measured HTTP workload, driven through `measureHttp`; a row of the main table. */
export interface HttpScenario extends ScenarioBase {
  kind?: 'http'
  /** The hello-world baseline the others are divided by; always runs, and runs first. */
  ceiling?: boolean
  run(ctx: BenchContext): Promise<Measurement>
}

/**
 * A workload with numbers of its own (batch ingest, fan-out, latency) and its own ceilings, measured
 * in the same run: a section of the report.
 */
export interface SectionScenario extends ScenarioBase {
  kind: 'section'
  ceiling?: undefined
  run(ctx: BenchContext): Promise<SectionResult>
}

export type Scenario = HttpScenario | SectionScenario

const FIXTURE_COUNT = 1_000
const json = { 'content-type': 'application/json' }

/** 50 connections of `PUT` progress updates over the fixture statuses (also the peer section's). */
export async function measurePut(ctx: BenchContext) {
  const ids = await ctx.statusIds('bench', FIXTURE_COUNT)
  return measureHttp(
    {
      url: ctx.service.url,
      serverCpuMs: ctx.service.cpuMs,
      databaseCpuMs: ctx.database.cpuMs,
      headers: { ...authHeaders(ctx.service.apiKey), ...json },
      // Each pass over the ids moves every status's progress by one, so every PUT is a real change
      // (a new version and event), never the no-op of setting the same value again.
      next: (n) => ({
        method: 'PUT',
        path: `/api/status/${ids[n % ids.length]}`,
        body: JSON.stringify({ progress_percentage: (Math.floor(n / ids.length) % 99) + 1 }),
      }),
    },
    ctx.settings,
  )
}

export const scenarios: Scenario[] = [
  {
    name: 'hello',
    title: 'Express hello-world (ceiling)',
    ceiling: true,
    run: (ctx) =>
      measureHttp(
        { url: ctx.hello.url, serverCpuMs: ctx.hello.cpuMs, next: () => ({ method: 'GET', path: '/' }) },
        ctx.settings,
      ),
  },
  {
    name: 'get',
    title: 'GET /api/status/:id',
    async run(ctx) {
      const ids = await ctx.statusIds('bench', FIXTURE_COUNT)
      return measureHttp(
        {
          url: ctx.service.url,
          serverCpuMs: ctx.service.cpuMs,
          databaseCpuMs: ctx.database.cpuMs,
          headers: authHeaders(ctx.service.apiKey),
          next: (n) => ({ method: 'GET', path: `/api/status/${ids[n % ids.length]}` }),
        },
        ctx.settings,
      )
    },
  },
  {
    name: 'put',
    title: 'PUT /api/status/:id (progress)',
    run: (ctx) => measurePut(ctx),
  },
  {
    name: 'create',
    title: 'POST /api/status (create)',
    run: (ctx) =>
      measureHttp(
        {
          url: ctx.service.url,
          serverCpuMs: ctx.service.cpuMs,
          databaseCpuMs: ctx.database.cpuMs,
          headers: { ...authHeaders(ctx.service.apiKey), ...json },
          next: () => ({
            method: 'POST',
            path: '/api/status',
            body: '{"kind":"bench.create","resource_id":"video:42","tags":["bench"]}',
          }),
        },
        ctx.settings,
      ),
  },
  {
    name: 'heartbeat',
    title: 'POST /api/status/:id/heartbeat (bare, over 100,000 live statuses)',
    async run(ctx) {
      // Copies of one processing status: a bare heartbeat moves last_heartbeat_at and its due time only.
      const ids = await ctx.clonedIds('live', 100_000)
      return measureHttp(
        {
          url: ctx.service.url,
          serverCpuMs: ctx.service.cpuMs,
          databaseCpuMs: ctx.database.cpuMs,
          headers: authHeaders(ctx.service.apiKey),
          // Spread over all of them, as many producers would beat: each request another status.
          next: (n) => ({ method: 'POST', path: `/api/status/${ids[(n * 7919) % ids.length]}/heartbeat` }),
        },
        ctx.settings,
      )
    },
  },
  {
    name: 'logs',
    title: 'POST /api/status/:id/logs (10 lines a request)',
    async run(ctx) {
      const ids = await ctx.statusIds('bench', FIXTURE_COUNT)
      const body = JSON.stringify({
        lines: Array.from({ length: 10 }, (_, i) => ({
          message: `step ${i + 1} of 10: transcoding segment`,
          ...(i % 3 === 0 && { level: 'warn', fields: { segment: i, retries: 1 } }),
        })),
      })
      return measureHttp(
        {
          url: ctx.service.url,
          serverCpuMs: ctx.service.cpuMs,
          databaseCpuMs: ctx.database.cpuMs,
          headers: { ...authHeaders(ctx.service.apiKey), ...json },
          next: (n) => ({ method: 'POST', path: `/api/status/${ids[n % ids.length]}/logs`, body }),
        },
        ctx.settings,
      )
    },
  },
  {
    kind: 'section',
    name: 'sweep',
    title: 'Liveness sweep: 10,000 of 1,000,000 statuses due at once, PUTs meanwhile',
    stores: ['sqlite'],
    run: runSweep,
  },
  {
    kind: 'section',
    name: 'batch',
    title: 'Batch ingest: POST /api/status/batch, the updater in-process, the raw driver',
    run: runBatchIngest,
  },
  {
    kind: 'section',
    name: 'groups',
    title: 'Groups: 10,000 children of one parent through /batch, against 10,000 without a parent',
    run: runGroups,
  },
  {
    kind: 'section',
    name: 'schema-cost',
    title: 'What each index, trigger and event column costs a write (raw SQLite)',
    stores: ['sqlite'],
    run: runSchemaCost,
  },
  {
    kind: 'section',
    name: 'fanout',
    title: 'Fan-out to Socket.IO subscribers (firehose)',
    run: runFanout,
  },
  {
    kind: 'section',
    name: 'latency',
    title: 'Update → subscriber latency',
    run: (ctx) => runLatency(ctx),
  },
  {
    kind: 'section',
    name: 'filters',
    title: 'Filters at scale (GET /api/status over a seeded database)',
    run: runFilters,
  },
  {
    kind: 'section',
    name: 'overload',
    title: 'Overload: one key flooding at 10× its rate limit, another tenant reading',
    run: runOverload,
  },
  {
    kind: 'section',
    name: 'peer',
    title: 'Peer: BullMQ updateProgress on a local Redis, beside our writes',
    run: runPeer,
  },
  {
    kind: 'section',
    name: 'instances',
    title: 'Two instances on one PostgreSQL database (PUT, batch, cross-instance latency)',
    stores: ['postgres'],
    run: runInstances,
  },
]
