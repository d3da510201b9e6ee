// A flooding client in a process of its own, a worker of scripts/bench.ts (so its load generation does not
// share an event loop with the victim's timed requests): autocannon at a fixed overall rate, with one key.
import autocannon from 'autocannon'
import { serve } from './ipc'

export interface FloodRequest {
  url: string
  path: string
  apiKey: string
  /** Requests per second over all connections (autocannon's overallRate). */
  rate: number
  connections: number
  durationSec: number
}

export interface FloodResult {
  requests: number
  statusCodes: Record<string, number>
  errors: number
  timeouts: number
  durationSec: number
}

serve({
  async flood(message) {
    const req = message as unknown as FloodRequest
    const startedAt = performance.now()
    const result = await autocannon({
      url: `${req.url}${req.path}`,
      connections: req.connections,
      overallRate: req.rate,
      duration: req.durationSec,
      headers: { authorization: `Bearer ${req.apiKey}` },
      timeout: 10,
    })
    const statusCodes: Record<string, number> = {}
    for (const [code, stats] of Object.entries(result.statusCodeStats ?? {}))
      statusCodes[code] = stats.count ?? 0
    return {
      requests: result.requests.total,
      statusCodes,
      errors: result.errors,
      timeouts: result.timeouts,
      durationSec: (performance.now() - startedAt) / 1000,
    } satisfies FloodResult
  },
})
