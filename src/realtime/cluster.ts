import { createAdapter } from '@socket.io/postgres-adapter'
import pg from 'pg'
import type { Logger } from 'pino'
import type { Namespace } from 'socket.io'

/** The server-side event one instance sends the others when it has committed events. */
const COMMITTED = 'events.committed'

export interface Cluster {
  /** The Socket.IO adapter joining this instance's server to the others on the database. */
  adapter: ReturnType<typeof createAdapter>
  /** Relays other instances' commit announcements to `onCommitted`, and lets `announce()` send ours. */
  join(namespace: Namespace, onCommitted: () => void): void
  /** Tells the other instances that events were committed; at most one message per `minIntervalMs`. */
  announce(): void
  close(): Promise<void>
}

/**
 * Instances on one PostgreSQL, joined through `@socket.io/postgres-adapter` (LISTEN/NOTIFY).
 *
 * Events themselves never travel through the adapter: every instance reads the shared, `seq`-ordered feed
 * and emits only to its own sockets, which keeps replay, order and exactly-once per subscriber. What the
 * adapter carries is a wake-up: "events were committed", so the other instances read the feed at once
 * instead of at their next poll. A lost wake-up costs latency, never an event; the poll still runs.
 */
export async function joinPostgresCluster(
  url: string,
  logger: Logger,
  { minIntervalMs = 5 }: { minIntervalMs?: number } = {},
): Promise<Cluster> {
  const pool = new pg.Pool({ connectionString: url, max: 3 })
  const warn = (err: Error) => logger.warn({ err }, 'cluster connection error')
  // A connection lost while checked out (the adapter holds one for LISTEN) errors on the client itself.
  pool.on('error', warn).on('connect', (client) => client.on('error', warn))
  // The adapter parks messages too large for NOTIFY here, and deletes old ones on a timer.
  await pool.query(`CREATE TABLE IF NOT EXISTS socket_io_attachments (
    id bigserial UNIQUE, created_at timestamptz DEFAULT now(), payload bytea)`)
  const adapter = createAdapter(pool, { errorHandler: warn })

  let namespace: Namespace | undefined
  let timer: NodeJS.Timeout | null = null
  let again = false
  const announce = () => {
    if (!namespace) return
    if (timer) {
      again = true
      return
    }
    namespace.serverSideEmit(COMMITTED)
    timer = setTimeout(() => {
      timer = null
      if (again) {
        again = false
        announce()
      }
    }, minIntervalMs)
  }

  return {
    adapter,
    join(joined, onCommitted) {
      namespace = joined
      joined.on(COMMITTED, onCommitted)
    },
    announce,
    async close() {
      if (timer) clearTimeout(timer)
      namespace = undefined
      await pool.end()
    },
  }
}
