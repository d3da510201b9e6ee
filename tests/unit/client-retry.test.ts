import {
  backoffDelay,
  retryDelay,
  serverDelayMs,
  type Outcome,
  type RetryPolicy,
} from '../../src/client/retry'
import { range } from '../helpers/wait'

const policy: RetryPolicy = { retries: 3, backoff: { baseMs: 200, maxMs: 5_000 }, maxServerDelayMs: 60_000 }
const low = () => 0
const high = () => 1

describe('backoff', () => {
  test('when the jitter is at its extremes, then the wait is half or all of base × 2^(retry − 1), up to the cap', () => {
    expect(range(1, 7).map((retry) => backoffDelay(retry, policy.backoff, low))).toEqual([
      100, 200, 400, 800, 1600, 2500, 2500,
    ])
    expect(range(1, 7).map((retry) => backoffDelay(retry, policy.backoff, high))).toEqual([
      200, 400, 800, 1600, 3200, 5000, 5000,
    ])
  })

  test('when the jitter varies, then every wait stays between half and all of the nominal one', () => {
    for (const retry of range(1, 8)) {
      const nominal = Math.min(5_000, 200 * 2 ** (retry - 1))
      for (let n = 0; n < 50; n++) {
        const wait = backoffDelay(retry, policy.backoff)
        expect(wait).toBeGreaterThanOrEqual(nominal / 2)
        expect(wait).toBeLessThanOrEqual(nominal)
      }
    }
  })
})

describe('the wait the server asks for', () => {
  const headers = (init: Record<string, string>) => new Headers(init)

  test('when Retry-After holds seconds, then that many seconds', () => {
    expect(serverDelayMs(headers({ 'Retry-After': '2' }))).toBe(2000)
    expect(serverDelayMs(headers({ 'Retry-After': '0' }))).toBe(0)
  })

  test('when Retry-After holds an HTTP date, then the time until it, never negative', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(serverDelayMs(headers({ 'Retry-After': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000)
    expect(serverDelayMs(headers({ 'Retry-After': 'Wed, 31 Dec 2025 23:59:00 GMT' }), now)).toBe(0)
  })

  test('when only RateLimit headers say when the window resets, then that (drafts 8, 7 and 6)', () => {
    expect(serverDelayMs(headers({ RateLimit: '"1-per-second"; r=0; t=3' }))).toBe(3000)
    expect(serverDelayMs(headers({ RateLimit: 'limit=10, remaining=0, reset=4' }))).toBe(4000)
    expect(serverDelayMs(headers({ 'RateLimit-Reset': '7' }))).toBe(7000)
  })

  test('when Retry-After and RateLimit disagree, then Retry-After wins', () => {
    expect(serverDelayMs(headers({ 'Retry-After': '1', RateLimit: '"p"; r=0; t=9' }))).toBe(1000)
  })

  test('when nothing says, or says nonsense, then no wait is asked for', () => {
    expect(serverDelayMs(headers({}))).toBeUndefined()
    expect(serverDelayMs(headers({ 'Retry-After': 'soon', RateLimit: 'remaining=3' }))).toBeUndefined()
  })
})

describe('retry policy', () => {
  const answer = (status: number, code?: string, delay?: number): Outcome => ({
    kind: 'answer',
    status,
    ...(code !== undefined && { code }),
    ...(delay !== undefined && { serverDelayMs: delay }),
  })
  const lost: Outcome = { kind: 'network', refused: false }
  const refused: Outcome = { kind: 'network', refused: true }
  const decide = (outcome: Outcome, replayable: boolean, attempts = 1) =>
    retryDelay(outcome, attempts, replayable, policy, high)

  test('when a replayable request (a read, a DELETE, a write with an Idempotency-Key) gets no answer or a gateway error, then it is retried', () => {
    for (const outcome of [lost, refused, answer(502), answer(504), answer(503), answer(429)]) {
      expect(decide(outcome, true)).toBe(200)
    }
  })

  test('when a request without a key may have been applied (no answer, 502, 504), then it is not retried', () => {
    for (const outcome of [lost, answer(502), answer(504)]) expect(decide(outcome, false)).toBeNull()
  })

  test('when the server cannot have acted (connection refused, 429, 503, write-conflict), then even a request without a key is retried', () => {
    for (const outcome of [refused, answer(429), answer(503, 'queue-full'), answer(409, 'write-conflict')]) {
      expect(decide(outcome, false)).toBe(200)
    }
  })

  test('when the answer is the caller’s mistake or a decision, then it is never retried', () => {
    for (const status of [400, 401, 403, 404, 409, 410, 412, 413, 422, 500]) {
      expect(decide(answer(status, 'some-code'), true)).toBeNull()
    }
  })

  test('when the same Idempotency-Key is still being processed, then a keyed request waits and tries again', () => {
    expect(decide(answer(409, 'idempotency-request-in-progress'), true)).toBe(200)
  })

  test('when the retries are used up, then it gives up', () => {
    expect(decide(lost, true, 3)).not.toBeNull()
    expect(decide(lost, true, 4)).toBeNull()
    expect(retryDelay(lost, 1, true, { ...policy, retries: 0 })).toBeNull()
  })

  test('when the server asks for a wait, then it waits that long, or longer when the backoff is longer', () => {
    expect(decide(answer(429, 'rate-limited', 2000), false)).toBe(2000)
    expect(retryDelay(answer(503, 'queue-full', 100), 3, false, policy, high)).toBe(800)
  })

  test('when the server asks for a wait beyond the limit, then the error is not waited out', () => {
    expect(decide(answer(429, 'rate-limited', 61_000), true)).toBeNull()
  })
})
