import type { RequestHandler } from 'express'
import { LRUCache } from 'lru-cache'
import type { Counter } from 'prom-client'
import { admit, decide, gcraOf, type RateLimitStore } from '../domain/rate-limit'
import { AppError } from '../errors'
import { sendProblem } from './error-handler'

export interface RateLimitOptions {
  rps: number
  burst: number
  /** Where the buckets are kept; this process's memory when absent (one instance). */
  store?: RateLimitStore
  /** Read for every request; tests move it by hand. */
  clock?: () => Date
  /** Counts refused requests by tenant (they are logged at debug only). */
  refused?: Counter<'tenant'>
}

/**
 * Buckets in this process's memory. Keys are API key ids, so the cache holds at most one entry per key
 * that called recently; were it ever full, the least recently used bucket would be forgotten (refilled).
 */
export function memoryRateLimitStore(max = 100_000): RateLimitStore {
  const tats = new LRUCache<string, number>({ max })
  return {
    async take(key, nowUs, gcra) {
      const stored = tats.get(key)
      const next = admit(stored, nowUs, gcra)
      if (next === null) return { allowed: false, tatUs: stored ?? nowUs }
      tats.set(key, next)
      return { allowed: true, tatUs: next }
    },
  }
}

/**
 * Per API key, a token bucket of `burst` tokens refilled at `rps` per second (docs/api.md). Sits right
 * after authentication, so a flooding key's excess costs one key lookup (cached) and one bucket update,
 * never a body parse or a route.
 */
export function rateLimitPerKey({
  rps,
  burst,
  store = memoryRateLimitStore(),
  clock = () => new Date(),
  refused,
}: RateLimitOptions): RequestHandler {
  const gcra = gcraOf({ rps, burst })
  const name = `"${rps}-per-second"`
  const policy = `${name}; q=${burst}; w=${Math.ceil(gcra.capacityUs / 1_000_000)}`
  return async (req, res, next) => {
    const key = req.auth?.id ?? 'anonymous'
    const nowUs = clock().getTime() * 1000
    const { allowed, tatUs } = await store.take(key, nowUs, gcra)
    const decision = decide(allowed, tatUs, nowUs, gcra)
    res.set('RateLimit-Policy', policy)
    res.set('RateLimit', `${name}; r=${decision.remaining}; t=${decision.resetS}`)
    if (allowed) return next()
    refused?.inc({ tenant: req.auth?.tenant_id ?? 'none' })
    const message = `Rate limit of ${rps} requests/s (burst ${burst}) exceeded`
    sendProblem(res, new AppError('rate-limited', 429, message, { retry_after: decision.retryAfterS }))
  }
}
