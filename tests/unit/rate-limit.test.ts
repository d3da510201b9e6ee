import fc from 'fast-check'
import { admit, decide, gcraOf, type Gcra } from '../../src/domain/rate-limit'
import { memoryRateLimitStore } from '../../src/http/rate-limit'

const S = 1_000_000 // µs
const T0 = Date.UTC(2026, 11, 2) * 1000

/** Offers a request at each time (µs) to a fresh bucket; answers which were admitted. */
function run(gcra: Gcra, times: number[]): boolean[] {
  let tat: number | undefined
  return times.map((now) => {
    const next = admit(tat, now, gcra)
    if (next !== null) tat = next
    return next !== null
  })
}

/** The textbook bucket: credit (µs of refill) grows with time up to the capacity; a request spends one interval. */
function reference({ intervalUs, capacityUs }: Gcra, times: number[]): boolean[] {
  let credit = capacityUs
  let last = times[0] ?? 0
  return times.map((now) => {
    credit = Math.min(capacityUs, credit + (now - last))
    last = now
    if (credit < intervalUs) return false
    credit -= intervalUs
    return true
  })
}

test('when the policy is 1,000/s with a burst of 2,000, then a token is 1 ms and the bucket 2 s', () => {
  expect(gcraOf({ rps: 1000, burst: 2000 })).toEqual({ intervalUs: 1000, capacityUs: 2 * S })
  expect(gcraOf({ rps: 3, burst: 3 })).toEqual({ intervalUs: 333_333, capacityUs: 999_999 })
})

test('when a full bucket gets a burst at one instant, then exactly `burst` pass', () => {
  const gcra = gcraOf({ rps: 5, burst: 10 })

  const admitted = run(gcra, Array(25).fill(T0))

  expect(admitted.filter(Boolean)).toHaveLength(10)
  expect(admitted.slice(0, 10).every(Boolean)).toBe(true)
})

test('when requests keep coming after the burst, then one passes per interval, no more', () => {
  const gcra = gcraOf({ rps: 5, burst: 10 })
  // Every 10 ms for 10 s: the burst, then one per 200 ms.
  const times = Array.from({ length: 1001 }, (_, i) => T0 + i * 10_000)

  const admitted = run(gcra, times).filter(Boolean).length

  expect(admitted).toBe(10 + 50)
})

test('when the bucket is empty, then a token is back exactly one interval after the last take', () => {
  const gcra = gcraOf({ rps: 5, burst: 2 })
  let tat = admit(undefined, T0, gcra)!
  tat = admit(tat, T0, gcra)!

  expect(admit(tat, T0, gcra)).toBeNull()
  expect(admit(tat, T0 + 200_000 - 1, gcra)).toBeNull()
  expect(admit(tat, T0 + 200_000, gcra)).toBe(T0 + 600_000)
})

test('when a request is refused, then Retry-After is the seconds until a token is back, rounded up, at least 1', () => {
  const fast = gcraOf({ rps: 1000, burst: 2000 })
  const slowGcra: Gcra = { intervalUs: 2.5 * S, capacityUs: 5 * S } // 0.4/s: one token per 2.5 s

  // Empty 1,000/s bucket: a token is back within 1 ms, still "1".
  expect(decide(false, T0 + 2 * S, T0, fast)).toMatchObject({ allowed: false, remaining: 0, retryAfterS: 1 })
  // Empty 0.4/s bucket: 2.5 s → 3; half a token back → 2 (1.25 s).
  expect(decide(false, T0 + 5 * S, T0, slowGcra).retryAfterS).toBe(3)
  expect(decide(false, T0 + 3.75 * S, T0, slowGcra).retryAfterS).toBe(2)
})

test('when tokens are left, then remaining counts whole tokens and reset is the seconds until full', () => {
  const gcra = gcraOf({ rps: 5, burst: 10 })

  expect(decide(true, T0 + 200_000, T0, gcra)).toEqual({
    allowed: true,
    remaining: 9,
    retryAfterS: 0,
    resetS: 1,
  })
  expect(decide(true, T0 + 1_100_000, T0, gcra)).toMatchObject({ remaining: 4, resetS: 2 })
  // A TAT in the past is a full bucket.
  expect(decide(true, T0 - 5 * S, T0, gcra)).toMatchObject({ remaining: 10, resetS: 0 })
})

test('when the clock steps back, then the bucket neither refills nor admits more than its capacity', () => {
  const gcra = gcraOf({ rps: 5, burst: 2 })

  const admitted = run(gcra, [T0, T0, T0 - 10 * S, T0 - 10 * S])

  expect(admitted).toEqual([true, true, false, false])
})

test('for any policy and request times, GCRA admits exactly what the textbook token bucket admits', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2000 }),
      fc.integer({ min: 0, max: 3000 }),
      fc.array(fc.integer({ min: 0, max: 50_000 }), { maxLength: 300 }),
      (rps, extra, gaps) => {
        const gcra = gcraOf({ rps, burst: rps + extra })
        const times = gaps.reduce<number[]>((acc, gap) => [...acc, (acc.at(-1) ?? T0) + gap], [])

        expect(run(gcra, times)).toEqual(reference(gcra, times))
      },
    ),
  )
})

test('for any request times, no span of time admits more than burst + rps × its length', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 0, max: 50 }),
      fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 200 }),
      (rps, extra, gaps) => {
        const burst = rps + extra
        const gcra = gcraOf({ rps, burst })
        const times = gaps.reduce<number[]>((acc, gap) => [...acc, (acc.at(-1) ?? T0) + gap], [])
        const passed = times.filter((_, i) => run(gcra, times)[i])

        for (let i = 0; i < passed.length; i++) {
          for (let j = i; j < passed.length; j++) {
            const spanUs = passed[j]! - passed[i]!
            expect(j - i + 1).toBeLessThanOrEqual(burst + Math.floor(spanUs / gcra.intervalUs))
          }
        }
      },
    ),
  )
})

test('when the memory store takes for two keys, then each key has a bucket of its own', async () => {
  const store = memoryRateLimitStore()
  const gcra = gcraOf({ rps: 1, burst: 2 })
  const take = (key: string) => store.take(key, T0, gcra).then((r) => r.allowed)

  const a = [await take('a'), await take('a'), await take('a')]
  const b = [await take('b'), await take('b')]

  expect(a).toEqual([true, true, false])
  expect(b).toEqual([true, true])
})

test('when the memory store refuses, then it reports the unchanged TAT', async () => {
  const store = memoryRateLimitStore()
  const gcra = gcraOf({ rps: 1, burst: 1 })

  const first = await store.take('k', T0, gcra)
  const refused = await store.take('k', T0 + 500_000, gcra)

  expect(first).toEqual({ allowed: true, tatUs: T0 + S })
  expect(refused).toEqual({ allowed: false, tatUs: T0 + S })
})
