// The hottest committed reads (point reads, the event feed) bypass Prisma, which costs far more per call
// than the query itself: prepared statements on a read-only SQLite connection, or named (prepared)
// statements on a small pg pool. Statements are written once with `?` placeholders.
import { createHash } from 'node:crypto'
import BetterSqlite3 from 'better-sqlite3'
import pg from 'pg'

export interface DirectQueries {
  all<T>(sql: string, params?: unknown[]): Promise<T[]>
  get<T>(sql: string, params?: unknown[]): Promise<T | undefined>
}

export interface DirectReads extends DirectQueries {
  /** Runs `fn`'s reads against one snapshot of the committed data. */
  consistent<T>(fn: (reads: DirectQueries) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/**
 * Rows come back as the driver gives them: times as ISO text (SQLite) or Dates (PostgreSQL), BIGINT as
 * numbers. Callers turn times into Dates with `new Date(value)`, which takes either.
 */
export function sqliteDirectReads(file: string): DirectReads {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: 5000 })
  const statements = new Map<string, BetterSqlite3.Statement>()
  const prepared = (sql: string) => {
    let statement = statements.get(sql)
    if (!statement) statements.set(sql, (statement = db.prepare(sql)))
    return statement
  }
  const queries: DirectQueries = {
    all: async <T>(sql: string, params: unknown[] = []) => prepared(sql).all(...params) as T[],
    get: async <T>(sql: string, params: unknown[] = []) => prepared(sql).get(...params) as T | undefined,
  }
  let closed = false
  return {
    ...queries,
    async consistent(fn) {
      // Each statement runs synchronously when called, so only microtasks can come between this
      // transaction's reads; a read slipping in there sees the same committed snapshot, which is harmless.
      // Already inside one (an overlapping call): that snapshot serves this call too.
      if (db.inTransaction) return fn(queries)
      db.exec('BEGIN')
      try {
        return await fn(queries)
      } finally {
        db.exec('COMMIT')
      }
    },
    async close() {
      if (closed) return
      closed = true
      db.close()
    },
  }
}

/** `?` placeholders to PostgreSQL's `$1, $2, …` (our statements have no `?` inside literals). */
const numbered = (sql: string) => {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

const TIMESTAMP = 1114
const INT8 = 20
// Columns are `timestamp(3)` holding UTC (as Prisma writes them); pg would read them as local time.
const utcTimestamp = (value: string) => new Date(value.replace(' ', 'T') + 'Z')
const types = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === TIMESTAMP) return utcTimestamp
    // seq and counters stay far below 2^53.
    if (oid === INT8) return Number
    return pg.types.getTypeParser(oid, format as 'text')
  }) as typeof pg.types.getTypeParser,
}

export function postgresDirectReads(url: string, max = 5): DirectReads {
  const pool = new pg.Pool({ connectionString: url, max, options: '-c TimeZone=UTC' })
  // An idle connection dropped by the server must not take the process down; the next query reconnects.
  pool.on('error', () => undefined)
  const names = new Map<string, { name: string; text: string }>()
  const statement = (sql: string) => {
    let found = names.get(sql)
    if (!found) {
      const name = 'd' + createHash('sha1').update(sql).digest('hex').slice(0, 16)
      names.set(sql, (found = { name, text: numbered(sql) }))
    }
    return found
  }
  const on = (client: pg.Pool | pg.PoolClient): DirectQueries => {
    const all = async <T>(sql: string, params: unknown[] = []) => {
      const result = await client.query({ ...statement(sql), values: params, types })
      return result.rows as T[]
    }
    return { all, get: async <T>(sql: string, params?: unknown[]) => (await all<T>(sql, params))[0] }
  }
  let closing: Promise<void> | undefined
  return {
    ...on(pool),
    async consistent(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
        const result = await fn(on(client))
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      } finally {
        client.release()
      }
    },
    close: () => (closing ??= pool.end()),
  }
}
