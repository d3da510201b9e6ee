// Applies the committed Prisma migrations at start-up. The Prisma CLI would need its native schema
// engine, which these machines cannot download, so we do what `prisma migrate deploy` does ourselves and
// record it the way Prisma does: its own tooling then sees the database as up to date.
import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'

// Walking up to package.json finds the project root from src/db (tsx, ts-jest) and from dist/src/db
// (compiled) alike.
function findProjectRoot(start: string): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir
    if (path.dirname(dir) === dir) return undefined
  }
}

const prismaDir = path.join(findProjectRoot(__dirname) ?? process.cwd(), 'prisma')
export const defaultMigrationsDir = path.join(prismaDir, 'migrations')
export const defaultPostgresMigrationsDir = path.join(prismaDir, 'postgresql', 'migrations')

/** Which store a `DATABASE_URL` names: `postgresql://` (or `postgres://`) URLs, else a SQLite file. */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url)

/** `file:./data/status.db` → an absolute path (relative ones resolve against the working directory). */
export function parseSqliteUrl(url: string): string {
  if (!url.startsWith('file:')) throw new Error(`Not a SQLite file: URL: ${url}`)
  // Prisma-style URLs may carry connection options after `?`; they are not part of the path.
  const location = url.slice('file:'.length).split('?')[0]!
  if (location === '') throw new Error(`SQLite URL has no file path: ${url}`)
  if (location.startsWith('//')) return fileURLToPath(`file:${location}`)
  return path.resolve(process.cwd(), location)
}

// Prisma's own definition for SQLite, so its tooling can read and extend the history we write.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`

interface Migration {
  name: string
  script: string
}

interface MigrationRow {
  migration_name: string
  checksum: string
  finished_at: string | Date | null
  rolled_back_at: string | Date | null
}

const checksumOf = (script: string): string => createHash('sha256').update(script, 'utf8').digest('hex')

// Like Prisma, accept a script whose line endings changed (git autocrlf), not any other edit.
function matchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replace(/\r\n/g, '\n'), script.replace(/\r?\n/g, '\r\n')]
  return variants.some((variant) => checksumOf(variant) === checksum)
}

// Prisma writes ISO-8601 with milliseconds and an explicit +00:00 offset.
const prismaTimestamp = (): string => new Date().toISOString().replace('Z', '+00:00')

function readMigrations(migrationsDir: string): Migration[] {
  if (!fs.existsSync(migrationsDir)) {
    throw new Error(`No migrations directory at ${migrationsDir}`)
  }
  return fs
    .readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const file = path.join(migrationsDir, name, 'migration.sql')
      if (!fs.existsSync(file)) throw new Error(`Migration ${name} has no migration.sql (${file})`)
      return { name, script: fs.readFileSync(file, 'utf8') }
    })
}

/**
 * Brings the SQLite file up to date with the committed migrations, creating it if needed.
 * Each migration runs in its own transaction together with its history row, so a failure leaves
 * neither half-applied schema nor a "failed" row behind.
 */
export function migrateSqliteDatabase(
  filePath: string,
  migrationsDir = defaultMigrationsDir,
): { applied: string[] } {
  const migrations = readMigrations(migrationsDir)
  fs.mkdirSync(path.dirname(filePath), { recursive: true })
  const db = new Database(filePath)
  try {
    db.pragma('journal_mode = WAL')
    db.exec(CREATE_MIGRATIONS_TABLE)
    const rows = db
      .prepare('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"')
      .all() as MigrationRow[]
    const pending = pendingMigrations(rows, migrations, filePath)
    if (pending.length === 0) return { applied: [] }

    // Prisma's SQLite migrations rebuild tables (create copy, drop original, rename). With foreign keys
    // on, dropping a parent would cascade into its children; the pragma is ignored inside a
    // transaction, so it is switched off here and integrity is checked before each commit instead.
    db.pragma('foreign_keys = OFF')
    const isApplied = db.prepare(
      `SELECT 1 FROM "_prisma_migrations"
       WHERE migration_name = ? AND finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    )
    const record = db.prepare(
      `INSERT INTO "_prisma_migrations"
         (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
       VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)`,
    )
    const applied: string[] = []
    for (const migration of pending) {
      const apply = db.transaction(() => {
        // Another process starting at the same time may have got here first.
        if (isApplied.get(migration.name)) return
        const startedAt = prismaTimestamp()
        db.exec(migration.script)
        const violations = db.pragma('foreign_key_check') as unknown[]
        if (violations.length > 0) {
          throw new Error(`it leaves ${violations.length} foreign key violation(s)`)
        }
        record.run(randomUUID(), checksumOf(migration.script), prismaTimestamp(), migration.name, startedAt)
        applied.push(migration.name)
      })
      try {
        // IMMEDIATE takes the write lock up front, so concurrent starters queue instead of racing.
        apply.immediate()
      } catch (error) {
        throw new Error(
          `Migration ${migration.name} failed and was rolled back: ${(error as Error).message}`,
          { cause: error },
        )
      }
    }
    return { applied }
  } finally {
    db.close()
  }
}

function pendingMigrations(rows: MigrationRow[], migrations: Migration[], where: string): Migration[] {
  // Same rule as `prisma migrate deploy`: a failed attempt recorded by other tooling needs a human.
  const failed = rows.filter((row) => row.finished_at === null && row.rolled_back_at === null)
  if (failed.length > 0) {
    const names = failed.map((row) => row.migration_name).join(', ')
    throw new Error(
      `${where} has failed migrations (${names}); resolve them before starting ` +
        '(see `prisma migrate resolve`)',
    )
  }

  const applied = new Map(
    rows.filter((row) => row.rolled_back_at === null).map((row) => [row.migration_name, row.checksum]),
  )
  // Checked before applying anything: an edited migration means this database and the code disagree
  // about history, and running later migrations on top of that could corrupt it.
  for (const migration of migrations) {
    const checksum = applied.get(migration.name)
    if (checksum !== undefined && !matchesChecksum(migration.script, checksum)) {
      throw new Error(
        `Migration ${migration.name} was modified after it was applied to ${where} ` +
          '(checksum mismatch). Restore the original migration.sql and put the change in a new migration.',
      )
    }
  }
  // Rows for migrations this build does not know (a newer build ran first) are left alone, as Prisma does.
  return migrations.filter((migration) => !applied.has(migration.name))
}

// Prisma's own definition for PostgreSQL.
const CREATE_PG_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`

/** The key `prisma migrate` itself locks, so our start-up and Prisma's tooling also exclude each other. */
const MIGRATION_LOCK_KEY = 72707369

/** The URL without its password, for logs and messages (a SQLite URL has none). */
export function redactUrl(url: string): string {
  if (!isPostgresUrl(url)) return url
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'the PostgreSQL database'
  }
}

/**
 * Brings the PostgreSQL database at `url` up to date with the committed migrations. Several instances
 * may start at once: a session advisory lock makes them take turns, and each re-reads the history
 * after getting it, so a migration is applied once. Each migration runs in its own transaction
 * together with its history row (PostgreSQL's DDL is transactional).
 */
export async function migratePostgresDatabase(
  url: string,
  migrationsDir = defaultPostgresMigrationsDir,
): Promise<{ applied: string[] }> {
  const migrations = readMigrations(migrationsDir)
  const where = redactUrl(url)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    // Quiet "already exists, skipping" notices from IF NOT EXISTS.
    await client.query('SET client_min_messages = warning')
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
    try {
      await client.query(CREATE_PG_MIGRATIONS_TABLE)
      const { rows } = await client.query<MigrationRow>(
        'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"',
      )
      const applied: string[] = []
      for (const migration of pendingMigrations(rows, migrations, where)) {
        const startedAt = new Date()
        try {
          await client.query('BEGIN')
          // One simple-protocol call runs the whole script, PL/pgSQL bodies included.
          await client.query(migration.script)
          await client.query(
            `INSERT INTO "_prisma_migrations"
               (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
             VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)`,
            [randomUUID(), checksumOf(migration.script), migration.name, startedAt],
          )
          await client.query('COMMIT')
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined)
          throw new Error(
            `Migration ${migration.name} failed and was rolled back: ${(error as Error).message}`,
            { cause: error },
          )
        }
        applied.push(migration.name)
      }
      return { applied }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined)
    }
  } finally {
    await client.end()
  }
}
