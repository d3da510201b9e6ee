// Creates and checks Prisma migrations with Prisma's wasm schema engine, because the CLI's
// `prisma migrate` needs a native engine that cannot be downloaded here (see prisma/schema-engine-stub.sh).
//
//   npm run db:migration -- create --name <snake_case_name>
//   npm run db:migration -- check
//   npm run db:migration -- status [--url file:./data/status.db]
//
// Migrations are applied at start-up by src/db/migrate.ts, which needs none of this.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import prismaConfig from '../prisma.config'
import { migrateSqliteDatabase, parseSqliteUrl } from '../src/db/migrate'
import {
  diffDatabaseToSchema,
  listMigrations,
  lockfileContent,
  schemaFilter,
  openEngine,
  replayMigrations,
} from './lib/schema-engine'

// prisma.config.ts stays the one place naming these paths; Prisma resolves them against its directory.
const projectRoot = path.resolve(__dirname, '..')
const schemaPath = path.resolve(projectRoot, prismaConfig.schema ?? 'prisma/schema.prisma')
const migrationsDir = path.resolve(projectRoot, prismaConfig.migrations?.path ?? 'prisma/migrations')

class UsageError extends Error {}

async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prisma-migrate-'))
  try {
    return await run(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** What the committed migrations lack compared with the schema, found on a scratch database. */
async function driftFromCommittedMigrations() {
  return withTempDir(async (dir) => {
    const session = await openEngine(schemaPath, path.join(dir, 'replay.db'))
    try {
      await replayMigrations(session, migrationsDir)
      return await diffDatabaseToSchema(session, schemaPath)
    } finally {
      await session.close()
    }
  })
}

// Prisma's own format: UTC, to the second.
function migrationTimestamp(now = new Date()): string {
  return now.toISOString().replace(/\D/g, '').slice(0, 14)
}

async function create(name: string | undefined): Promise<number> {
  if (!name || !/^[a-z0-9]+(_[a-z0-9]+)*$/.test(name)) {
    throw new UsageError('create needs --name <snake_case_name>, e.g. --name add_status_owner')
  }
  const drift = await driftFromCommittedMigrations()
  if (!drift) {
    console.log('The committed migrations already produce prisma/schema.prisma: nothing to create.')
    return 0
  }

  const folder = `${migrationTimestamp()}_${name}`
  const target = path.join(migrationsDir, folder)
  if (fs.existsSync(target)) throw new Error(`${target} already exists`)
  fs.mkdirSync(target, { recursive: true })
  fs.writeFileSync(path.join(target, 'migration.sql'), drift.script, 'utf8')
  fs.writeFileSync(path.join(migrationsDir, 'migration_lock.toml'), lockfileContent('sqlite'), 'utf8')

  console.log(`Created ${path.relative(projectRoot, target)}/migration.sql\n\n${drift.summary}\n`)
  // `prisma migrate dev` would prepend data-loss warnings, but the wasm engine cannot compute them
  // for SQLite (its createMigration has no shadow database there), so the reader has to.
  if (/^(-- DropTable|-- RedefineTables|ALTER TABLE .* DROP COLUMN)/m.test(drift.script)) {
    console.log(
      'This migration drops or rebuilds tables or columns: review it for data loss before committing.',
    )
  }
  return 0
}

async function check(): Promise<number> {
  const drift = await driftFromCommittedMigrations()
  if (drift) {
    console.error('prisma/schema.prisma and the committed migrations differ.')
    console.error(`${drift.summary}\n\nA migration bringing them in line would be:\n\n${drift.script}`)
    console.error('Create it with: npm run db:migration -- create --name <name>')
    return 1
  }

  // Also prove the start-up migrator builds the same schema and records history that Prisma accepts.
  const problem = await withTempDir(async (dir) => {
    const dbPath = path.join(dir, 'runtime.db')
    migrateSqliteDatabase(dbPath, migrationsDir)
    const session = await openEngine(schemaPath, dbPath)
    try {
      const history = await session.engine.diagnoseMigrationHistory({
        migrationsList: listMigrations(migrationsDir),
        optInToShadowDatabase: false,
        filters: schemaFilter,
      })
      if (history.history || history.editedMigrationNames.length || history.failedMigrationNames.length) {
        return `Prisma does not accept the history src/db/migrate.ts records: ${JSON.stringify(history)}`
      }
      const runtimeDrift = await diffDatabaseToSchema(session, schemaPath)
      return runtimeDrift && `src/db/migrate.ts builds a different schema:\n${runtimeDrift.script}`
    } finally {
      await session.close()
    }
  })
  if (problem) {
    console.error(problem)
    return 1
  }

  const count = listMigrations(migrationsDir).migrationDirectories.length
  console.log(`OK: ${count} migration(s) produce exactly prisma/schema.prisma.`)
  return 0
}

/** Which committed migrations the database at `url` still lacks. */
async function status(url: string): Promise<number> {
  const dbPath = parseSqliteUrl(url)
  const all = listMigrations(migrationsDir).migrationDirectories.map((dir) => dir.path)
  let pending: string[] = all
  let problems: string[] = []
  // Opening a missing file would create it; a status check must not.
  if (fs.existsSync(dbPath)) {
    const session = await openEngine(schemaPath, dbPath)
    try {
      const diagnosis = await session.engine.diagnoseMigrationHistory({
        migrationsList: listMigrations(migrationsDir),
        optInToShadowDatabase: false,
        filters: schemaFilter,
      })
      const history = diagnosis.history
      pending = history && 'unappliedMigrationNames' in history ? history.unappliedMigrationNames : []
      problems = [
        ...diagnosis.failedMigrationNames.map((name) => `failed: ${name}`),
        ...diagnosis.editedMigrationNames.map((name) => `edited after being applied: ${name}`),
        ...(history && 'unpersistedMigrationNames' in history
          ? history.unpersistedMigrationNames.map((name) => `applied but not in this checkout: ${name}`)
          : []),
      ]
    } catch (error) {
      // The engine reports a database without a history table (a new, empty file) as P1014, not as
      // "everything pending".
      if ((error as { code?: string }).code !== 'P1014') throw error
    } finally {
      await session.close()
    }
  }

  console.log(`${dbPath}: ${all.length - pending.length} of ${all.length} migration(s) applied.`)
  for (const name of pending) console.log(`  pending: ${name}`)
  for (const problem of problems) console.log(`  ${problem}`)
  return pending.length === 0 && problems.length === 0 ? 0 : 1
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, url: { type: 'string' } },
  })
  const [command, ...extra] = positionals
  if (extra.length > 0) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}`)
  switch (command) {
    case 'create':
      return create(values.name)
    case 'check':
      return check()
    case 'status':
      return status(values.url ?? process.env.DATABASE_URL ?? 'file:./data/status.db')
    default:
      throw new UsageError('Usage: prisma-migrate.ts create --name <name> | check | status [--url file:…]')
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error((error as Error).message)
      process.exit(2)
    }
    console.error(error)
    process.exit(1)
  },
)
