import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import BetterSqlite3 from 'better-sqlite3'
import { Prisma, PrismaClient } from './generated/client'
import { migrateSqliteDatabase, parseSqliteUrl } from './migrate'

export { Prisma, PrismaClient }
/** Either client, or a client inside an interactive transaction. */
export type Db = Prisma.TransactionClient

export interface DatabaseOptions {
  url: string
  synchronous?: 'NORMAL' | 'FULL'
}

/**
 * The store, split by intent. The SQLite adapter drives one connection per client, and a statement
 * sent on it while a transaction is open runs inside that transaction: a read would see uncommitted
 * rows and a write would vanish with a rollback. So writes only ever run inside `write()`, on the
 * writer connection, and reads use a second connection that sees committed data only (WAL).
 */
export interface Database {
  read: PrismaClient
  /**
   * A read-only driver connection for the hottest point reads, with statements prepared once: Prisma
   * costs about 1 ms of CPU per call here, a prepared statement a few microseconds.
   */
  direct: BetterSqlite3.Database
  write<T>(fn: (tx: Db) => Promise<T>): Promise<T>
  ping(): Promise<void>
  close(): Promise<void>
}

// Long enough for a queue of writers behind SQLite's single write lock; a stuck transaction still ends.
const TX_OPTIONS = { maxWait: 15_000, timeout: 15_000 }

/**
 * The adapter does not report how many values a statement may bind, and Prisma then assumes SQLite's
 * old limit of 999, which an id list from a search exceeds. The bundled SQLite takes 32,766.
 */
export const SQLITE_MAX_BIND_VALUES = 32_766

class SqliteAdapterFactory extends PrismaBetterSqlite3 {
  override async connect() {
    const adapter = await super.connect()
    return Object.assign(adapter, {
      getConnectionInfo: () => ({ maxBindValues: SQLITE_MAX_BIND_VALUES, supportsRelationJoins: false }),
    })
  }
}

function connect(file: string): PrismaClient {
  return new PrismaClient({ adapter: new SqliteAdapterFactory({ url: file, timeout: 5000 }) })
}

/**
 * Creates (and migrates) the SQLite file named by `url`, then connects. WAL with synchronous=NORMAL
 * keeps every committed write across a process crash; FULL also across power loss, at a cost per commit.
 */
export async function openDatabase({ url, synchronous = 'NORMAL' }: DatabaseOptions): Promise<Database> {
  const file = parseSqliteUrl(url)
  migrateSqliteDatabase(file)
  const writer = connect(file)
  const reader = connect(file)
  const direct = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: 5000 })
  await writer.$executeRawUnsafe(`PRAGMA synchronous = ${synchronous}`)
  let closing: Promise<void> | undefined
  return {
    read: reader,
    direct,
    write: (fn) => writer.$transaction(fn, TX_OPTIONS),
    async ping() {
      await reader.$queryRaw`SELECT 1`
    },
    close: () =>
      (closing ??= Promise.all([writer.$disconnect(), reader.$disconnect()]).then(() => {
        direct.close()
      })),
  }
}
