import { collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import type { RequestHandler } from 'express'

/** One registry per app, so several apps in one process (tests) never collide. */
export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  })

  const observe: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer()
    res.once('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched'
      end({ method: req.method, route, status_code: res.statusCode })
    })
    next()
  }

  return { registry, observe }
}

export type Metrics = ReturnType<typeof createMetrics>
