import type { ServerResponse } from 'node:http'
import type { RequestHandler } from 'express'
import { LRUCache } from 'lru-cache'
import type { Counter } from 'prom-client'
import { admit, decide, gcraOf, type RateLimitDecision, type RateLimitStore } from '../domain/rate-limit'
import { PROBLEMS } from '../errors'
import { problemBody } from './error-handler'

export interface RateLimitOptions {
  rps: number
  burst: number
  /** Where the buckets are kept; this process's memory when absent (one instance). */
  store?: RateLimitStore
  /** Read for every request; tests move it by hand. */
  clock?: () => Date
  /** Counts refused requests by tenant (they are not access-logged). */
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

/** The key a request is limited by: its id, and its tenant for the refusal counter. */
export interface LimitedKey {
  id: string
  tenant_id: string
}

export interface RateLimiter {
  /**
   * Express middleware: takes a token from the bucket of the request's key (`req.auth`), or refuses the
   * request with 429. Requests without a known key pass untouched: they are refused with 401 further on.
   */
  middleware: RequestHandler
  /**
   * For the server's request listener, before Express: what to tell a request of `key` when its bucket is
   * known to be empty (refused since its last token, none back yet), without asking the store; undefined
   * when it may have a token (then the middleware decides).
   */
  knownEmpty(key: LimitedKey): RateLimitDecision | undefined
  /** Writes the 429 answer for `decision` (its headers included), counted in `status_rate_limited_total`. */
  refuse(res: ServerResponse, key: LimitedKey, decision: RateLimitDecision): void
}

/**
 * Per API key, a token bucket of `burst` tokens refilled at `rps` per second (docs/api.md). Its middleware
 * runs before anything else in Express that costs (access logging, body parsing, routing), right after the
 * key is known from the cache (`identifyKey`), so a flooding key's excess costs a lookup and a bucket
 * check. A refusal is written directly, with no error object, no log line (`status_rate_limited_total`
 * counts it) and, once a key's bucket is known to be empty, no trip to a shared store and not even
 * Express: the request listener answers it (`knownEmpty`, `refuse`) from the request listener. When the shared store fails, the
 * request passes (the database it lives in is then failing the request anyway).
 */
export function createRateLimiter({
  rps,
  burst,
  store = memoryRateLimitStore(),
  clock = () => new Date(),
  refused,
}: RateLimitOptions): RateLimiter {
  const gcra = gcraOf({ rps, burst })
  const name = `"${rps}-per-second"`
  const policy = `${name}; q=${burst}; w=${Math.ceil(gcra.capacityUs / 1_000_000)}`
  const detail = `Rate limit of ${rps} requests/s (burst ${burst}) exceeded`
  // A key's TAT as last seen refused: until it is `capacity - interval` away, nothing can be admitted
  // (a TAT only ever grows, whichever instance moves it), so those requests are refused without asking.
  const emptyBuckets = new LRUCache<string, number>({ max: 10_000 })
  const emptyTat = (key: string, nowUs: number): number | undefined => {
    const tatUs = emptyBuckets.get(key)
    return tatUs !== undefined && tatUs - nowUs + gcra.intervalUs > gcra.capacityUs ? tatUs : undefined
  }

  async function take(key: string, nowUs: number) {
    const knownTat = emptyTat(key, nowUs)
    if (knownTat !== undefined) return { allowed: false, tatUs: knownTat }
    const taken = await store.take(key, nowUs, gcra)
    if (taken.allowed) emptyBuckets.delete(key)
    else emptyBuckets.set(key, taken.tatUs)
    return taken
  }

  function setHeaders(res: ServerResponse, decision: RateLimitDecision) {
    res.setHeader('RateLimit-Policy', policy)
    res.setHeader('RateLimit', `${name}; r=${decision.remaining}; t=${decision.resetS}`)
  }

  function refuse(res: ServerResponse, key: LimitedKey, decision: RateLimitDecision) {
    refused?.inc({ tenant: key.tenant_id })
    setHeaders(res, decision)
    res.statusCode = 429
    res.setHeader('Retry-After', String(decision.retryAfterS))
    res.setHeader('Content-Type', 'application/problem+json; charset=utf-8')
    res.end(
      JSON.stringify(
        problemBody('rate-limited', PROBLEMS['rate-limited'].status, detail, {
          retry_after: decision.retryAfterS,
        }),
      ),
    )
  }

  return {
    refuse,
    async middleware(req, res, next) {
      if (!req.auth) return next()
      const nowUs = clock().getTime() * 1000
      let taken: { allowed: boolean; tatUs: number }
      try {
        taken = await take(req.auth.id, nowUs)
      } catch {
        return next()
      }
      const decision = decide(taken.allowed, taken.tatUs, nowUs, gcra)
      if (!taken.allowed) return refuse(res, req.auth, decision)
      setHeaders(res, decision)
      next()
    },

    knownEmpty(key) {
      const nowUs = clock().getTime() * 1000
      const tatUs = emptyTat(key.id, nowUs)
      return tatUs === undefined ? undefined : decide(false, tatUs, nowUs, gcra)
    },
  }
}
