import path from 'node:path'
import { PostgresStore } from '@acpr/rate-limit-postgresql'
import type { Options, Store } from 'express-rate-limit'
import pg from 'pg'
import { migrate } from 'postgres-migrations'

/** The library's store, with its pool's idle-connection errors handled (unhandled, they crash the process). */
class PoolGuardedStore extends PostgresStore {
  override init(options: Options): void {
    super.init(options)
    // A dropped idle connection (a restart, a terminated backend) is replaced on the next request.
    ;(this.pool as pg.Pool).on('error', () => undefined)
  }
}

export interface SharedRateLimitStore {
  store: Store
  close(): Promise<void>
}

/**
 * Hits per API key kept in PostgreSQL (schema `rate_limit`), so every instance on the database counts
 * against the same limit. The store's constructor starts its own migrations without waiting for them;
 * they are applied and awaited here first, so it finds nothing left to do and no request races them.
 */
export async function postgresRateLimitStore(url: string): Promise<SharedRateLimitStore> {
  const migrations = path.join(path.dirname(require.resolve('@acpr/rate-limit-postgresql')), 'migrations')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await migrate({ client }, migrations)
  } finally {
    await client.end()
  }
  const store = new PoolGuardedStore({ connectionString: url, max: 5 }, 'status-tracker')
  return {
    store,
    async close() {
      await (store.pool as pg.Pool | undefined)?.end()
    },
  }
}
