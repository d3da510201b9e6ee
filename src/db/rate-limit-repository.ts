import pg from 'pg'
import type { RateLimitStore } from '../domain/rate-limit'

// One statement, so the read-check-write of a bucket is atomic across instances: the upsert takes the
// key's row lock and moves its TAT only when a token is left (a refused request writes nothing); when
// it does not, the outer SELECT reads the TAT as of the statement's snapshot, for the Retry-After.
// $1 key, $2 now, $3 interval, $4 capacity (µs).
const TAKE = `
WITH admitted AS (
  INSERT INTO rate_limit_buckets AS b (key, tat) VALUES ($1, $2::bigint + $3::bigint)
  ON CONFLICT (key) DO UPDATE SET tat = GREATEST(b.tat, $2::bigint) + $3::bigint
  WHERE GREATEST(b.tat, $2::bigint) + $3::bigint - $2::bigint <= $4::bigint
  RETURNING tat
)
SELECT tat::text AS tat, true AS allowed FROM admitted
UNION ALL
SELECT tat::text AS tat, false AS allowed FROM rate_limit_buckets
WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM admitted)`

export interface SharedRateLimitStore extends RateLimitStore {
  close(): Promise<void>
}

/**
 * Buckets in PostgreSQL's `rate_limit_buckets` (migrated with the rest of the schema), so every
 * instance on the database takes from the same bucket per key. Its own small pool: one round trip per
 * request, off Prisma. Commits do not wait for the WAL flush: a crash forgets at most the last few
 * milliseconds of takes, which refills a bucket a little and loses nothing else.
 */
export function postgresRateLimitStore(url: string, max = 5): SharedRateLimitStore {
  const pool = new pg.Pool({ connectionString: url, max, options: '-c synchronous_commit=off' })
  // A dropped idle connection (a restart, a terminated backend) is replaced on the next request.
  pool.on('error', () => undefined)
  let closing: Promise<void> | undefined
  return {
    async take(key, nowUs, { intervalUs, capacityUs }) {
      const { rows } = await pool.query<{ tat: string; allowed: boolean }>({
        name: 'rate-limit-take',
        text: TAKE,
        values: [key, nowUs, intervalUs, capacityUs],
      })
      const row = rows[0]
      // Refused by a row committed after this statement's snapshot began: the bucket is as full as can be.
      if (!row) return { allowed: false, tatUs: nowUs + capacityUs }
      return { allowed: row.allowed, tatUs: Number(row.tat) }
    },
    close: () => (closing ??= pool.end()),
  }
}
