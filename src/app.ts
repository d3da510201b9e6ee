import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import express from 'express'
import type { Logger } from 'pino'
import { accessLog } from './http/access-log'
import { authenticate, identifyKey, keyFromHeaders } from './http/auth'
import { corsMiddleware, type CorsOrigins } from './http/cors'
import { errorHandler, notFoundHandler } from './http/error-handler'
import { jsonBody } from './http/json-body'
import { httpMetrics } from './http/metrics'
import { createRateLimiter, type RateLimitOptions } from './http/rate-limit'
import { batchRoutes } from './http/routes/batch'
import { dashboardRoutes } from './http/routes/dashboard'
import { docsRoutes } from './http/routes/docs'
import { eventRoutes } from './http/routes/events'
import { statsRoutes } from './http/routes/stats'
import { tokenRoutes } from './http/routes/tokens'
import { healthRoutes } from './http/routes/health'
import { keyRoutes } from './http/routes/keys'
import { statusRoutes } from './http/routes/status'
import { webhookRoutes } from './http/routes/webhooks'
import { sseRoutes } from './realtime/sse'
import type { Services } from './services'

export interface AppDeps {
  services: Services
  logger: Logger
  rateLimit: RateLimitOptions
  checkReady: () => Promise<void>
  /** Browser origins allowed to read answers (CORS); none when omitted. */
  corsOrigins?: CorsOrigins
}

export interface HttpApp {
  /** What the HTTP server calls for every request: refusals of keys known to be over their limit, then Express. */
  listener: RequestListener
  /** The Express application behind it (its routes are what the OpenAPI document describes). */
  express: express.Application
}

/** Builds the HTTP application; it never listens and never opens a database. */
export function createApp({ services, logger, rateLimit, checkReady, corsOrigins = [] }: AppDeps): HttpApp {
  const limiter = createRateLimiter({ refused: services.metrics.rateLimited, ...rateLimit })
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  // Only the key-authenticated API and its description: /metrics, /health and the pages stay same-origin,
  // so a page elsewhere cannot read them through the browser of someone inside the network.
  const cors = corsMiddleware(corsOrigins)
  if (cors) app.use(['/api', '/openapi.json'], cors)
  // The key (cached) and its bucket come before everything that costs: a flooding key's excess is
  // refused at the price of a lookup, not of a log line, a body parse and a route.
  app.use('/api', identifyKey(services), limiter.middleware)
  // Latency of what the limiter let through: its refusals are counted by status_rate_limited_total.
  app.use(httpMetrics(services.metrics.registry))
  // Successes at debug (at thousands of requests a second a line each would cost more CPU than the
  // request itself), failures at warn and error; a line is built only when its level is enabled.
  app.use(accessLog(logger, { ignore: (req) => req.url === '/health' }))
  // The API first: its requests are nearly all of them, and Express tries every layer in order. The
  // pages, /health, /metrics and the description share no path with it.
  const api = express.Router()
  api.use(authenticate(services), jsonBody())
  api.use(
    statusRoutes(services),
    batchRoutes(services),
    keyRoutes(services),
    webhookRoutes(services),
    sseRoutes(services),
    eventRoutes(services),
    statsRoutes(services),
    tokenRoutes(services),
  )
  app.use('/api', api)
  app.use(healthRoutes({ checkReady, registry: services.metrics.registry }))
  app.use(docsRoutes())
  app.use(dashboardRoutes())

  app.use(notFoundHandler)
  app.use(errorHandler)

  // A flooding key's excess, once its bucket is known to be empty, is refused here: Express's own
  // per-request work (its router above all) costs several times what the refusal does.
  function refusedEarly(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method === 'OPTIONS' || !req.url?.startsWith('/api/')) return false
    const apiKey = req.headers['x-api-key']
    const secret = keyFromHeaders(req.headers.authorization, typeof apiKey === 'string' ? apiKey : undefined)
    const key = secret === undefined ? undefined : services.apiKeys.known(secret)
    const decision = key && limiter.knownEmpty(key)
    if (!key || !decision) return false
    if (cors) cors(req, res, () => limiter.refuse(res, key, decision))
    else limiter.refuse(res, key, decision)
    return true
  }

  return {
    listener: (req, res) => {
      if (!refusedEarly(req, res)) app(req, res)
    },
    express: app,
  }
}
