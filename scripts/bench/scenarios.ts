import { runBatchIngest } from './batch'
import { runFanout } from './fanout'
import { runFilters } from './filters'
import { runInstances } from './instances'
import { authHeaders, type ServiceTarget } from './fixtures'
import { runLatency } from './latency'
import { measureHttp, type LoadSettings, type Measurement } from './load'
import { runOverload } from './overload'
import { runPeer } from './peer'
import { runSchemaCost } from './schema-cost'
import type { BenchOptions, DbKind } from './options'
import type { ChildServer } from './processes'
import type { SectionResult } from './report'
import type { DatabaseProvider, StoreAccess } from './store'

export interface BenchContext {
  service: ServiceTarget & {
    cpuMs(): number | null
    /** The tenant of `apiKey`. */
    tenantId: string
  }
  /** The service's database, for fixtures and the feed's head (store.ts). */
  store: StoreAccess
  /** The store under test: fresh databases for scenarios that need their own, and its CPU time. */
  database: DatabaseProvider
  hello: { url: string; cpuMs(): number | null }
  settings: LoadSettings
  options: BenchOptions
  /** Seconds measured, and warmed up, by each part of the batch, fan-out and latency scenarios. */
  part: { durationSec: number; warmupSec: number }
  rootDir: string
  tmpDir: string
  /** `count` statuses with ids `<prefix>-NNNN`, created on first use and shared by later scenarios. */
  statusIds(prefix: string, count: number): Promise<string[]>
  /**
   * `count` statuses with ids `<prefix>-NNNNN`: one created through the API, copied in the database
   * (fast; see sqlite.ts). Created on first use and shared by later scenarios.
   */
  clonedIds(prefix: string, count: number): Promise<string[]>
  /** Starts `scripts/bench/<script>` as a worker with an IPC channel; stopped with the servers. */
  startWorker(name: string, script: string, nodeArgs?: string[]): ChildServer
  /** Another process of the built service on the same database (same admin key), e.g. a second instance. */
  startInstance(name: string, env?: NodeJS.ProcessEnv): Promise<ChildServer>
  /** Starts `scripts/bench/<script>` as a server on a free port; ready when `/health` answers. */
  startServer(name: string, script: string): Promise<ChildServer>
}

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
    kind: 'section',
    name: 'batch',
    title: 'Batch ingest: POST /api/status/batch, the updater in-process, the raw driver',
    run: runBatchIngest,
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
