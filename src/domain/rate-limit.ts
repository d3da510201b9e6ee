// The per-key token bucket as GCRA (the generic cell rate algorithm): instead of a token count refilled by
// a timer, each key keeps one number, its "theoretical arrival time" (TAT), the moment its bucket would be
// full again. A request at `now` takes a token when that moment, pushed back by one token's worth of time,
// is at most a whole bucket's worth of time ahead of `now`. One number per key and no timers, so one
// atomic statement can keep it in a shared database.
//
// Times are integer microseconds (since the epoch), so the arithmetic is exact (below 2^53 until 2255).

export interface RateLimitPolicy {
  /** Tokens refilled per second, continuously. */
  rps: number
  /** The bucket's capacity: requests admitted at once after a quiet spell. */
  burst: number
}

export interface Gcra {
  /** Time that one token takes to come back, µs (rounded to the microsecond). */
  intervalUs: number
  /** Time that a whole bucket takes to refill: burst × interval, µs. */
  capacityUs: number
}

export function gcraOf({ rps, burst }: RateLimitPolicy): Gcra {
  const intervalUs = Math.max(1, Math.round(1_000_000 / rps))
  return { intervalUs, capacityUs: burst * intervalUs }
}

/** The key's new TAT when a request at `nowUs` takes a token, or null when the bucket is empty. */
export function admit(
  tatUs: number | undefined,
  nowUs: number,
  { intervalUs, capacityUs }: Gcra,
): number | null {
  const next = Math.max(tatUs ?? nowUs, nowUs) + intervalUs
  return next - nowUs <= capacityUs ? next : null
}

export interface RateLimitDecision {
  allowed: boolean
  /** Whole tokens left after this request. */
  remaining: number
  /** Seconds until one token is back (rounded up, at least 1); 0 while a token is left. */
  retryAfterS: number
  /** Seconds until the bucket is full again, rounded up. */
  resetS: number
}

/**
 * What a request at `nowUs` was told, from the key's TAT after it: the new TAT when it was admitted, the
 * unchanged one when it was refused.
 */
export function decide(
  allowed: boolean,
  tatUs: number,
  nowUs: number,
  { intervalUs, capacityUs }: Gcra,
): RateLimitDecision {
  const ahead = Math.max(0, tatUs - nowUs)
  const remaining = Math.max(0, Math.floor((capacityUs - ahead) / intervalUs))
  // The next request is admitted once the TAT is no more than capacity − interval ahead.
  const waitUs = ahead + intervalUs - capacityUs
  return {
    allowed,
    remaining,
    retryAfterS: remaining > 0 || waitUs <= 0 ? 0 : Math.max(1, Math.ceil(waitUs / 1_000_000)),
    resetS: Math.ceil(ahead / 1_000_000),
  }
}

/** Where TATs are kept: this process's memory, or a database shared by every instance. */
export interface RateLimitStore {
  /** Takes a token from `key`'s bucket if one is left, atomically; answers whether it did and the TAT after. */
  take(key: string, nowUs: number, gcra: Gcra): Promise<{ allowed: boolean; tatUs: number }>
}
