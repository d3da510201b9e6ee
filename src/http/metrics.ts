import type { RequestHandler, Response } from 'express'
import { Histogram, type Registry } from 'prom-client'

/**
 * Where a request's route was mounted, recorded by `mountedAt` as it passes each mount. Express restores
 * `req.baseUrl` to the parent's whenever a router hands on (an error included), so by the time a failed
 * GET /api/status/:id finishes, `req.baseUrl` has lost "/api/status" while `req.route` still says "/:id".
 */
const mountOf = (res: Response): string | undefined => res.locals.mountedAt as string | undefined

/**
 * Placed first at each mount whose routers have routes: records the mount's whole path for the route label.
 * The last mount a request passes is the one whose route answered it (a match ends the chain, and an error
 * skips every later mount).
 */
export const mountedAt: RequestHandler = (req, res, next) => {
  res.locals.mountedAt = req.baseUrl
  next()
}

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
      const path = (req.route as { path?: unknown } | undefined)?.path
      const route = typeof path === 'string' ? `${mountOf(res) ?? req.baseUrl}${path}` : 'unmatched'
      end({ method: req.method, route, status_code: res.statusCode })
    })
    next()
  }
}
