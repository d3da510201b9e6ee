import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { Prisma, PrismaClient } from './generated/client'
import { migrateSqliteDatabase, parseSqliteUrl } from './migrate'

export { Prisma, PrismaClient }
/** Either the client or the client inside an interactive transaction. */
export type Db = Prisma.TransactionClient

export interface DatabaseOptions {
  url: string
  synchronous?: 'NORMAL' | 'FULL'
}

/**
 * Creates (and migrates) the SQLite file named by `url`, then returns a connected client.
 * WAL with synchronous=NORMAL keeps every committed write across a process crash; FULL also
 * across power loss, at a cost per commit.
 */
export async function openDatabase({ url, synchronous = 'NORMAL' }: DatabaseOptions): Promise<PrismaClient> {
  const file = parseSqliteUrl(url)
  migrateSqliteDatabase(file)
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: file, timeout: 5000 }) })
  await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL')
  await prisma.$executeRawUnsafe(`PRAGMA synchronous = ${synchronous}`)
  return prisma
}

export const isUniqueViolation = (err: unknown): boolean =>
  err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002'
