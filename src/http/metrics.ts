import type { RequestHandler } from 'express'
import { Histogram, type Registry } from 'prom-client'

/** Request latency by route, recorded into the service's registry. */
export function httpMetrics(registry: Registry): RequestHandler {
  // Several apps may share one service container (tests do): reuse the histogram if it is there.
  const existing = registry.getSingleMetric('http_request_duration_seconds') as
    Histogram<'method' | 'route' | 'status_code'> | undefined
  const httpDuration =
    existing ??
    new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    })
  return (req, res, next) => {
    const end = httpDuration.startTimer()
    res.once('finish', () => {
      // The declared path of the operation that took the request (src/http/operation.ts names it).
      const route = (res.locals.route as string | undefined) ?? 'unmatched'
      end({ method: req.method, route, status_code: res.statusCode })
    })
    next()
  }
}
