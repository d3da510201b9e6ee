export interface Backoff {
  /** The wait before the first retry; it doubles for each further one. */
  baseMs: number
  /** The longest wait between two attempts. */
  maxMs: number
}

export interface RetryPolicy {
  /** Retries after the first attempt (0: never retry). */
  retries: number
  backoff: Backoff
  /** A server asking for a longer wait than this (`Retry-After`) is not waited for: the error is thrown. */
  maxServerDelayMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 3,
  backoff: { baseMs: 200, maxMs: 5_000 },
  maxServerDelayMs: 60_000,
}

/**
 * The wait before retry `retry` (1, 2, …): base × 2^(retry − 1), capped, with equal jitter (between
 * half and all of it), so many clients failing together do not come back together.
 */
export function backoffDelay(retry: number, { baseMs, maxMs }: Backoff, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (retry - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/**
 * How long the server asked us to wait, in ms: `Retry-After` (seconds or an HTTP date), else the reset of
 * a `RateLimit` header (`t=` of draft 8, `reset=` of draft 7) or `RateLimit-Reset` (draft 6).
 */
export function serverDelayMs(headers: Headers, now = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim()
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.round(Number(retryAfter) * 1000)
    const at = Date.parse(retryAfter)
    if (!Number.isNaN(at)) return Math.max(0, at - now)
  }
  const reset =
    headers.get('ratelimit')?.match(/(?:^|[;,\s])(?:t|reset)=(\d+)/)?.[1] ??
    headers.get('ratelimit-reset')?.trim().match(/^\d+$/)?.[0]
  return reset === undefined ? undefined : Number(reset) * 1000
}

/** What an attempt came to, as far as retrying is concerned. */
export type Outcome =
  /** No answer. `refused`: the connection was never made, so the server cannot have seen the request. */
  | { kind: 'network'; refused: boolean }
  | { kind: 'answer'; status: number; code?: string; serverDelayMs?: number }

/**
 * Answers in which the server says it did nothing: rate limited, overloaded or shutting down (its 503s
 * are `queue-full`, `shutting-down`, `not-ready`), or a write that lost too many races.
 */
const refusedUndone = (status: number, code: string | undefined) =>
  status === 429 || status === 503 || code === 'write-conflict'

/**
 * The wait before the next attempt, or null to give up. `attempts` is how many were made so far;
 * `replayable` says that sending the request again cannot do its work twice: a read, a `DELETE`, or a
 * write carrying an `Idempotency-Key`. Other requests are retried only when the server cannot have
 * acted on them.
 */
export function retryDelay(
  outcome: Outcome,
  attempts: number,
  replayable: boolean,
  policy: RetryPolicy,
  random = Math.random,
): number | null {
  if (attempts > policy.retries) return null
  const backoff = backoffDelay(attempts, policy.backoff, random)
  if (outcome.kind === 'network') return replayable || outcome.refused ? backoff : null

  const { status, code } = outcome
  const retryable =
    refusedUndone(status, code) ||
    (replayable && (status === 502 || status === 504 || code === 'idempotency-request-in-progress'))
  if (!retryable) return null
  const asked = outcome.serverDelayMs
  if (asked === undefined) return backoff
  return asked > policy.maxServerDelayMs ? null : Math.max(asked, backoff)
}
