import { authHeaders, type ServiceTarget } from './fixtures'
import { measureHttp, type LoadSettings, type Measurement } from './load'

export interface BenchContext {
  service: ServiceTarget & { cpuMs(): number | null }
  hello: { url: string; cpuMs(): number | null }
  settings: LoadSettings
  /** `count` statuses with ids `<prefix>-NNNN`, created on first use and shared by later scenarios. */
  statusIds(prefix: string, count: number): Promise<string[]>
}

/**
 * One measured workload. Most drive HTTP through `measureHttp`; a scenario that needs another
 * client (Socket.IO fan-out, SSE) implements `run` with it and returns the same numbers.
 */
export interface Scenario {
  /** Short name for `--only` and the results file. */
  name: string
  title: string
  /** The hello-world baseline the others are divided by; always runs, and runs first. */
  ceiling?: boolean
  run(ctx: BenchContext): Promise<Measurement>
}

const FIXTURE_COUNT = 1_000
const json = { 'content-type': 'application/json' }

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
    async run(ctx) {
      const ids = await ctx.statusIds('bench', FIXTURE_COUNT)
      return measureHttp(
        {
          url: ctx.service.url,
          serverCpuMs: ctx.service.cpuMs,
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
    },
  },
  {
    name: 'create',
    title: 'POST /api/status (create)',
    run: (ctx) =>
      measureHttp(
        {
          url: ctx.service.url,
          serverCpuMs: ctx.service.cpuMs,
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
]
