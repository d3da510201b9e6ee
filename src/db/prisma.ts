import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { postgresDialect, sqliteDialect, type Dialect } from './dialect'
import { postgresDirectReads, sqliteDirectReads, type DirectReads } from './direct-reads'
import { Prisma, PrismaClient } from './generated/client'
import { PrismaClient as PostgresPrismaClient } from './generated-postgresql/client'
import { isPostgresUrl, migratePostgresDatabase, migrateSqliteDatabase, parseSqliteUrl } from './migrate'

export { Prisma, PrismaClient }
/** Either client, or a client inside an interactive transaction. */
export type Db = Prisma.TransactionClient

export interface DatabaseOptions {
  /** `file:…` for SQLite, `postgresql://…` for PostgreSQL. */
  url: string
  synchronous?: 'NORMAL' | 'FULL'
  /** PostgreSQL: connections in Prisma's pool (the direct reads keep a few more of their own). */
  poolSize?: number
}

/**
 * The store, split by intent. Writes only ever run inside `write()`, in one transaction each; reads use
 * `read`, which sees committed data only. On SQLite these are two connections (the adapter runs every
 * statement of a client on its single connection, so a read there would see an open transaction's
 * rows); on PostgreSQL one pooled client serves both, each transaction on a connection of its own.
 */
export interface Database {
  dialect: Dialect
  /**
   * Typed against the SQLite client. The PostgreSQL client is generated from the same models (a check
   * keeps prisma/postgresql/schema.prisma derived from prisma/schema.prisma), so its API is the same.
   */
  read: PrismaClient
  /** The hottest committed point reads, as prepared statements outside Prisma. */
  direct: DirectReads
  write<T>(fn: (tx: Db) => Promise<T>): Promise<T>
  /** Resolves when the database answers, rejects when it fails or takes over PING_TIMEOUT_MS. */
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

/** How long a readiness ping may take: a database that stops answering (a partition) is not ready. */
export const PING_TIMEOUT_MS = 2_000

async function bounded(ping: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the database did not answer within ${PING_TIMEOUT_MS} ms`)),
      PING_TIMEOUT_MS,
    )
  })
  try {
    await Promise.race([ping(), late])
  } finally {
    clearTimeout(timer)
  }
}

function connect(file: string): PrismaClient {
  return new PrismaClient({ adapter: new SqliteAdapterFactory({ url: file, timeout: 5000 }) })
}

/**
 * Creates (and migrates) the SQLite file, or migrates the PostgreSQL database, named by `url`, then
 * connects. SQLite: WAL with synchronous=NORMAL keeps every committed write across a process crash;
 * FULL also across power loss, at a cost per commit.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return isPostgresUrl(options.url) ? openPostgres(options) : openSqlite(options)
}

async function openSqlite({ url, synchronous = 'NORMAL' }: DatabaseOptions): Promise<Database> {
  const file = parseSqliteUrl(url)
  migrateSqliteDatabase(file)
  const writer = connect(file)
  const reader = connect(file)
  const direct = sqliteDirectReads(file)
  await writer.$executeRawUnsafe(`PRAGMA synchronous = ${synchronous}`)
  let closing: Promise<void> | undefined
  return {
    dialect: sqliteDialect,
    read: reader,
    direct,
    write: (fn) => writer.$transaction(fn, TX_OPTIONS),
    ping: () => bounded(() => reader.$queryRaw`SELECT 1`),
    close: () =>
      (closing ??= Promise.all([writer.$disconnect(), reader.$disconnect()]).then(() => direct.close())),
  }
}

async function openPostgres({ url, poolSize = 10 }: DatabaseOptions): Promise<Database> {
  await migratePostgresDatabase(url)
  // Times are `timestamp(3)` in UTC, as Prisma writes them; a UTC session keeps now() and casts alike.
  const adapter = new PrismaPg({ connectionString: url, max: poolSize, options: '-c TimeZone=UTC' })
  // Same models, other provider: see Database.read.
  const client = new PostgresPrismaClient({ adapter }) as unknown as PrismaClient
  const direct = postgresDirectReads(url)
  let closing: Promise<void> | undefined
  return {
    dialect: postgresDialect,
    read: client,
    direct,
    // READ COMMITTED: writes are optimistic (`WHERE version = …`) or lock what they read (FOR UPDATE),
    // and the tenant row orders each tenant's events (docs/storage.md).
    write: (fn) => client.$transaction(fn, TX_OPTIONS),
    ping: () => bounded(() => client.$queryRaw`SELECT 1`),
    close: () => (closing ??= Promise.all([client.$disconnect(), direct.close()]).then(() => undefined)),
  }
}
