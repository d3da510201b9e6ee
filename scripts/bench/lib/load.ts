import autocannon from 'autocannon'
import { machineBusyMs } from './processes'

export interface LoadSettings {
  durationSec: number
  warmupSec: number
  connections: number
}

/** One scenario's numbers; latencies in milliseconds. */
export interface Measurement {
  requestsPerSec: number
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number }
  requests: number
  non2xx: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
  cpu: {
    /** The server process, as % of one core, and CPU time per completed request; null if not sampled. */
    serverPercent: number | null
    serverUsPerRequest: number | null
    /** The database server's processes (PostgreSQL), % of one core; 0 for SQLite, inside the server. */
    databasePercent: number | null
    /** This process (autocannon): near 100 % means the load generator, not the server, set the pace. */
    loaderPercent: number
    /**
     * Everything else on the machine (other programs), as % of one core. Well above zero means the
     * numbers were taken on a busy machine and are lower than this code can do.
     */
    otherPercent: number | null
  }
}

export type HttpRequest = autocannon.Request

export interface HttpLoad {
  url: string
  headers?: Record<string, string>
  /**
   * Builds the n-th request. Called for every request from every connection, with one counter shared
   * by all of them, so the requests spread over ids and bodies instead of repeating per connection.
   */
  next: (n: number) => Pick<HttpRequest, 'method' | 'path' | 'body'>
  /** CPU ms used so far by the process under test. */
  serverCpuMs?: () => number | null
  /** CPU ms used so far by the database server's processes (PostgreSQL). */
  databaseCpuMs?: () => number | null
}

function fire(load: HttpLoad, connections: number, durationSec: number, nextIndex: () => number) {
  return autocannon({
    url: load.url,
    connections,
    duration: durationSec,
    headers: load.headers,
    timeout: 10,
    requests: [{ setupRequest: (req) => ({ ...req, ...load.next(nextIndex()) }) }],
  })
}

/** Warms up (results thrown away), then measures for the set duration. */
export async function measureHttp(load: HttpLoad, settings: LoadSettings): Promise<Measurement> {
  let n = 0
  const nextIndex = () => n++
  if (settings.warmupSec > 0) await fire(load, settings.connections, settings.warmupSec, nextIndex)
  const serverBefore = load.serverCpuMs?.() ?? null
  const databaseBefore = load.databaseCpuMs?.() ?? 0
  const loaderBefore = process.cpuUsage()
  const machineBefore = machineBusyMs()
  const startedAt = performance.now()
  const result = await fire(load, settings.connections, settings.durationSec, nextIndex)
  const wallMs = performance.now() - startedAt
  const loader = process.cpuUsage(loaderBefore)
  const serverAfter = load.serverCpuMs?.() ?? null
  const databaseAfter = load.databaseCpuMs?.() ?? 0
  const machineAfter = machineBusyMs()
  const serverMs = serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore
  const loaderMs = (loader.user + loader.system) / 1000
  const databaseMs = databaseBefore === null || databaseAfter === null ? null : databaseAfter - databaseBefore
  const machineMs = machineBefore === null || machineAfter === null ? null : machineAfter - machineBefore
  const percent = (ms: number) => (ms / wallMs) * 100
  const statusCodes: Record<string, number> = {}
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = stats.count ?? 0
  return {
    requestsPerSec: result.requests.average,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      mean: result.latency.average,
      max: result.latency.max,
    },
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    cpu: {
      serverPercent: serverMs === null ? null : percent(serverMs),
      serverUsPerRequest:
        serverMs === null || result.requests.total === 0 ? null : (serverMs * 1000) / result.requests.total,
      databasePercent: databaseMs === null ? null : percent(databaseMs),
      loaderPercent: percent(loaderMs),
      otherPercent:
        machineMs === null || serverMs === null
          ? null
          : Math.max(0, percent(machineMs - serverMs - loaderMs - (databaseMs ?? 0))),
    },
  }
}
