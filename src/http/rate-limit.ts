import type { RequestHandler } from 'express'
import { rateLimit, type Store } from 'express-rate-limit'
import { AppError } from '../errors'
import { sendProblem } from './error-handler'

export interface RateLimitOptions {
  rps: number
  burst: number
  /** Where hits are counted; this process's memory when absent (one instance). */
  store?: Store
}

/**
 * Per API key: at most `burst` requests in any window of burst/rps seconds. That admits a burst of
 * `burst` at once and `rps` per second sustained, the behaviour of a token bucket of that size.
 */
export function rateLimitPerKey({ rps, burst, store }: RateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: Math.max(1, Math.round((burst / rps) * 1000)),
    limit: burst,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: `${rps}-per-second`,
    ...(store && { store }),
    keyGenerator: (req) => req.auth?.id ?? 'anonymous',
    handler: (_req, res) =>
      sendProblem(
        res,
        new AppError('rate-limited', 429, `Rate limit of ${rps} requests/s (burst ${burst}) exceeded`),
      ),
  })
}
