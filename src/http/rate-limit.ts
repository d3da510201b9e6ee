import type { RequestHandler } from 'express'
import { rateLimit } from 'express-rate-limit'
import { AppError } from '../errors'
import { sendProblem } from './error-handler'

export interface RateLimitOptions {
  rps: number
  burst: number
}

/**
 * Per API key: at most `burst` requests in any window of burst/rps seconds. That admits a burst of
 * `burst` at once and `rps` per second sustained, the behaviour of a token bucket of that size.
 */
export function rateLimitPerKey({ rps, burst }: RateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: Math.max(1, Math.round((burst / rps) * 1000)),
    limit: burst,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: `${rps}-per-second`,
    keyGenerator: (req) => req.auth?.id ?? 'anonymous',
    handler: (_req, res) =>
      sendProblem(
        res,
        new AppError('rate-limited', 429, `Rate limit of ${rps} requests/s (burst ${burst}) exceeded`),
      ),
  })
}
