import express from 'express'
import type { Logger } from 'pino'
import { pinoHttp } from 'pino-http'
import { authenticate } from './http/auth'
import { errorHandler, notFoundHandler } from './http/error-handler'
import { createMetrics } from './http/metrics'
import { rateLimitPerKey, type RateLimitOptions } from './http/rate-limit'
import { eventRoutes } from './http/routes/events'
import { healthRoutes } from './http/routes/health'
import { keyRoutes } from './http/routes/keys'
import { statusRoutes } from './http/routes/status'
import type { Services } from './services'

export interface AppDeps {
  services: Services
  logger: Logger
  rateLimit: RateLimitOptions
  checkReady: () => Promise<void>
}

/** Builds the HTTP application; it never listens and never opens a database. */
export function createApp({ services, logger, rateLimit, checkReady }: AppDeps): express.Application {
  const app = express()
  const metrics = createMetrics()
  app.disable('x-powered-by')
  app.set('etag', false)
  app.use(pinoHttp({ logger, autoLogging: { ignore: (req) => req.url === '/health' } }))
  app.use(metrics.observe)
  app.use(express.json({ limit: '1mb' }))

  app.use(healthRoutes({ checkReady, registry: metrics.registry }))

  const api = express.Router()
  api.use(authenticate(services.apiKeys), rateLimitPerKey(rateLimit))
  api.use('/status', statusRoutes(services))
  api.use('/keys', keyRoutes(services))
  api.use(eventRoutes(services))
  app.use('/api', api)

  app.use(notFoundHandler)
  app.use(errorHandler)
  return app
}
