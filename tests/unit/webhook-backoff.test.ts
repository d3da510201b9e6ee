import { retryDelay } from '../../src/domain/webhook'
import { range } from '../helpers/wait'

const policy = { baseMs: 1000, maxMs: 3_600_000 }

test('when the jitter is at its extremes, then the wait is half or all of base × 2^(attempt − 1)', () => {
  expect(range(1, 8).map((attempt) => retryDelay(attempt, policy, () => 0))).toEqual([
    500, 1000, 2000, 4000, 8000, 16000, 32000, 64000,
  ])
  expect(range(1, 8).map((attempt) => retryDelay(attempt, policy, () => 1))).toEqual([
    1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000,
  ])
})

test('when the nominal wait passes the cap, then the cap bounds it, jitter included', () => {
  const capped = { baseMs: 1000, maxMs: 10_000 }

  expect(retryDelay(5, capped, () => 1)).toBe(10_000)
  expect(retryDelay(5, capped, () => 0)).toBe(5_000)
  expect(retryDelay(60, capped, () => 0.5)).toBe(7_500)
})

test('when the jitter varies, then every wait stays between half and all of the nominal one', () => {
  for (const attempt of range(1, 10)) {
    const nominal = policy.baseMs * 2 ** (attempt - 1)
    for (let n = 0; n < 50; n++) {
      const wait = retryDelay(attempt, policy)
      expect(wait).toBeGreaterThanOrEqual(nominal / 2)
      expect(wait).toBeLessThanOrEqual(nominal)
    }
  }
})
