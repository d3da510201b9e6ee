// Creates and checks Prisma migrations with Prisma's wasm schema engine, because the CLI's
// `prisma migrate` needs a native engine that cannot be downloaded here (see prisma/schema-engine-stub.sh).
//
//   npm run db:migration -- create --name <snake_case_name> [--postgres-url URL]
//   npm run db:migration -- check [--postgres-url URL]
//   npm run db:migration -- status [--url file:./data/status.db | --url postgresql://…]
//   npm run db:migration -- schema      (rewrites prisma/postgresql/schema.prisma from prisma/schema.prisma)
//
// Each store has its own migrations: prisma/migrations (SQLite) and prisma/postgresql/migrations. The
// PostgreSQL ones are made and checked on scratch databases of a PostgreSQL server: --postgres-url, else
// TEST_POSTGRES_URL, else a throw-away one from scripts/start-postgres.sh.
// Migrations are applied at start-up by src/db/migrate.ts, which needs none of this.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import prismaConfig from '../prisma.config'
import {
  isPostgresUrl,
  migratePostgresDatabase,
  migrateSqliteDatabase,
  parseSqliteUrl,
  redactUrl,
} from '../src/db/migrate'
import {
  diffDatabaseToSchema,
  listMigrations,
  lockfileContent,
  openEngine,
  replayMigrations,
  type EngineSession,
  type EngineTarget,
} from './lib/schema-engine'

// prisma.config.ts stays the one place naming these paths; Prisma resolves them against its directory.
const projectRoot = path.resolve(__dirname, '..')
const schemaPath = path.resolve(projectRoot, prismaConfig.schema ?? 'prisma/schema.prisma')
const migrationsDir = path.resolve(projectRoot, prismaConfig.migrations?.path ?? 'prisma/migrations')
const pgSchemaPath = path.join(projectRoot, 'prisma', 'postgresql', 'schema.prisma')
const pgMigrationsDir = path.join(projectRoot, 'prisma', 'postgresql', 'migrations')
const startPostgres = path.join(projectRoot, 'scripts', 'start-postgres.sh')

type Provider = 'sqlite' | 'postgresql'
interface Store {
  provider: Provider
  schemaPath: string
  migrationsDir: string
}
const stores: Record<Provider, Store> = {
  sqlite: { provider: 'sqlite', schemaPath, migrationsDir },
  postgresql: { provider: 'postgresql', schemaPath: pgSchemaPath, migrationsDir: pgMigrationsDir },
}
const rel = (file: string) => path.relative(projectRoot, file)

class UsageError extends Error {}

/**
 * The PostgreSQL schema is the SQLite one with another provider and client output: derived, never
 * edited, so the models cannot drift apart.
 */
function derivePostgresSchema(): string {
  const source = fs.readFileSync(schemaPath, 'utf8')
  const derived = source
    .replace(/^(\s*output\s*=\s*)"\.\.\/src\/db\/generated"/m, '$1"../../src/db/generated-postgresql"')
    .replace(/^(\s*provider\s*=\s*)"sqlite"/m, '$1"postgresql"')
  if (!derived.includes('"postgresql"') || !derived.includes('generated-postgresql')) {
    throw new Error(`${rel(schemaPath)} no longer has the provider and output lines this script rewrites`)
  }
  return (
    `// GENERATED from prisma/schema.prisma by \`npm run db:migration -- schema\`: do not edit.\n` +
    `// The models are the SQLite schema's, byte for byte; only the provider and the client's output differ.\n` +
    `// \`npm run db:migration -- check\` (run by the tests) fails when this file is out of date.\n\n` +
    derived
  )
}

function writePostgresSchema(): boolean {
  const wanted = derivePostgresSchema()
  const current = fs.existsSync(pgSchemaPath) ? fs.readFileSync(pgSchemaPath, 'utf8') : undefined
  if (current === wanted) return false
  fs.mkdirSync(path.dirname(pgSchemaPath), { recursive: true })
  fs.writeFileSync(pgSchemaPath, wanted, 'utf8')
  return true
}

async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prisma-migrate-'))
  try {
    return await run(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A PostgreSQL server to make scratch databases on: `--postgres-url`, else TEST_POSTGRES_URL, else a
 * throw-away one from scripts/start-postgres.sh (stopped again on exit). Undefined when there is none.
 */
let server: { url: string; stop?: () => void } | null | undefined
function postgresServer(explicit: string | undefined): { url: string } | undefined {
  if (server !== undefined) return server ?? undefined
  const given = explicit ?? process.env.TEST_POSTGRES_URL
  if (given) return (server = { url: given })
  const started = spawnSync(startPostgres, [], { encoding: 'utf8' })
  if (started.status !== 0) {
    server = null
    return undefined
  }
  const url = started.stdout.trim().split('\n').pop()!
  server = { url, stop: () => spawnSync(startPostgres, ['--stop', url]) }
  return server
}

/** A new, empty database on the server, dropped when `run` finishes. */
async function withScratchPostgres<T>(serverUrl: string, run: (url: string) => Promise<T>): Promise<T> {
  const name = `prisma_scratch_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    try {
      return await run(url.toString())
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    }
  } finally {
    await admin.end()
  }
}

/** Runs `fn` against a scratch database of the store's provider. */
async function withScratch<T>(
  store: Store,
  serverUrl: string | undefined,
  fn: (target: EngineTarget) => Promise<T>,
) {
  if (store.provider === 'sqlite') {
    return withTempDir((dir) => fn({ provider: 'sqlite', file: path.join(dir, 'scratch.db') }))
  }
  return withScratchPostgres(serverUrl!, (url) => fn({ provider: 'postgresql', url }))
}

async function withEngine<T>(
  schema: string,
  target: EngineTarget,
  run: (session: EngineSession) => Promise<T>,
) {
  const session = await openEngine(schema, target)
  try {
    return await run(session)
  } finally {
    await session.close()
  }
}

/** What the committed migrations lack compared with the schema, found on a scratch database. */
function driftFromCommittedMigrations(store: Store, serverUrl?: string) {
  return withScratch(store, serverUrl, (target) =>
    withEngine(store.schemaPath, target, async (session) => {
      await replayMigrations(session, store.migrationsDir)
      return diffDatabaseToSchema(session, store.schemaPath)
    }),
  )
}

// Prisma's own format: UTC, to the second.
function migrationTimestamp(now = new Date()): string {
  return now.toISOString().replace(/\D/g, '').slice(0, 14)
}

function needPostgres(explicit: string | undefined): string {
  const found = postgresServer(explicit)
  if (!found) {
    throw new Error(
      'PostgreSQL migrations need a PostgreSQL server: pass --postgres-url, set TEST_POSTGRES_URL, or ' +
        'install the server binaries so scripts/start-postgres.sh can start one',
    )
  }
  return found.url
}

async function create(name: string | undefined, postgresUrl: string | undefined): Promise<number> {
  if (!name || !/^[a-z0-9]+(_[a-z0-9]+)*$/.test(name)) {
    throw new UsageError('create needs --name <snake_case_name>, e.g. --name add_status_owner')
  }
  if (writePostgresSchema()) console.log(`Updated ${rel(pgSchemaPath)} from ${rel(schemaPath)}.`)
  const serverUrl = needPostgres(postgresUrl)
  const folder = `${migrationTimestamp()}_${name}`
  let created = 0
  for (const store of Object.values(stores)) {
    const drift = await driftFromCommittedMigrations(store, serverUrl)
    if (!drift) {
      console.log(
        `${store.provider}: the committed migrations already produce the schema: nothing to create.`,
      )
      continue
    }
    const target = path.join(store.migrationsDir, folder)
    if (fs.existsSync(target)) throw new Error(`${target} already exists`)
    fs.mkdirSync(target, { recursive: true })
    fs.writeFileSync(path.join(target, 'migration.sql'), drift.script, 'utf8')
    fs.writeFileSync(
      path.join(store.migrationsDir, 'migration_lock.toml'),
      lockfileContent(store.provider),
      'utf8',
    )
    created += 1
    console.log(`Created ${rel(target)}/migration.sql\n\n${drift.summary}\n`)
    // `prisma migrate dev` would prepend data-loss warnings, but the wasm engine cannot compute them
    // for SQLite (its createMigration has no shadow database there), so the reader has to.
    if (/^(-- DropTable|-- RedefineTables|ALTER TABLE .* DROP COLUMN)/m.test(drift.script)) {
      console.log(
        'This migration drops or rebuilds tables or columns: review it for data loss before committing.',
      )
    }
  }
  if (created > 0) {
    console.log(
      'Hand-written parts (triggers, search indexes) are the same change in each dialect: add them to ' +
        'both files (see docs/storage.md).',
    )
  }
  return 0
}

/** Proves the start-up migrator builds the schema and records history that Prisma accepts. */
async function checkRuntimeMigrator(store: Store, serverUrl?: string): Promise<string | undefined> {
  return withScratch(store, serverUrl, async (target) => {
    if (target.provider === 'sqlite') migrateSqliteDatabase(target.file, store.migrationsDir)
    else await migratePostgresDatabase(target.url, store.migrationsDir)
    return withEngine(store.schemaPath, target, async (session) => {
      const history = await session.engine.diagnoseMigrationHistory({
        migrationsList: listMigrations(store.migrationsDir),
        optInToShadowDatabase: false,
        filters: session.filters,
      })
      if (history.history || history.editedMigrationNames.length || history.failedMigrationNames.length) {
        return `Prisma does not accept the history src/db/migrate.ts records: ${JSON.stringify(history)}`
      }
      const runtimeDrift = await diffDatabaseToSchema(session, store.schemaPath)
      return runtimeDrift && `src/db/migrate.ts builds a different schema:\n${runtimeDrift.script}`
    })
  })
}

async function check(postgresUrl: string | undefined): Promise<number> {
  if (fs.readFileSync(pgSchemaPath, 'utf8') !== derivePostgresSchema()) {
    console.error(
      `${rel(pgSchemaPath)} is not derived from ${rel(schemaPath)} (their models differ).\n` +
        'Regenerate it with: npm run db:migration -- schema',
    )
    return 1
  }
  const serverUrl = postgresServer(postgresUrl)?.url
  const checked: string[] = []
  for (const store of Object.values(stores)) {
    if (store.provider === 'postgresql' && !serverUrl) continue
    const drift = await driftFromCommittedMigrations(store, serverUrl)
    if (drift) {
      console.error(`${rel(store.schemaPath)} and the committed migrations differ.`)
      console.error(`${drift.summary}\n\nA migration bringing them in line would be:\n\n${drift.script}`)
      console.error('Create it with: npm run db:migration -- create --name <name>')
      return 1
    }
    const problem = await checkRuntimeMigrator(store, serverUrl)
    if (problem) {
      console.error(`${store.provider}: ${problem}`)
      return 1
    }
    const count = listMigrations(store.migrationsDir).migrationDirectories.length
    checked.push(`${count} ${store.provider} migration(s) produce exactly ${rel(store.schemaPath)}`)
  }
  console.log(`OK: ${checked.join('; ')}.`)
  if (!serverUrl) {
    console.log(
      'PostgreSQL migrations not checked: no server (pass --postgres-url or install PostgreSQL); ' +
        'the two schemas have the same models.',
    )
  }
  return 0
}

/** Which committed migrations the database at `url` still lacks. */
async function status(url: string): Promise<number> {
  const store = isPostgresUrl(url) ? stores.postgresql : stores.sqlite
  const where = isPostgresUrl(url) ? redactUrl(url) : parseSqliteUrl(url)
  const all = listMigrations(store.migrationsDir).migrationDirectories.map((dir) => dir.path)
  let pending: string[] = all
  let problems: string[] = []
  // Opening a missing file would create it; a status check must not.
  if (isPostgresUrl(url) || fs.existsSync(where)) {
    const target: EngineTarget = isPostgresUrl(url)
      ? { provider: 'postgresql', url }
      : { provider: 'sqlite', file: where }
    const session = await openEngine(store.schemaPath, target)
    try {
      const diagnosis = await session.engine.diagnoseMigrationHistory({
        migrationsList: listMigrations(store.migrationsDir),
        optInToShadowDatabase: false,
        filters: session.filters,
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
      // The engine reports a database without a history table (a new, empty one) as P1014, not as
      // "everything pending".
      if ((error as { code?: string }).code !== 'P1014') throw error
    } finally {
      await session.close()
    }
  }

  console.log(`${where}: ${all.length - pending.length} of ${all.length} migration(s) applied.`)
  for (const name of pending) console.log(`  pending: ${name}`)
  for (const problem of problems) console.log(`  ${problem}`)
  return pending.length === 0 && problems.length === 0 ? 0 : 1
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, url: { type: 'string' }, 'postgres-url': { type: 'string' } },
  })
  const [command, ...extra] = positionals
  if (extra.length > 0) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}`)
  switch (command) {
    case 'create':
      return create(values.name, values['postgres-url'])
    case 'check':
      return check(values['postgres-url'])
    case 'schema':
      console.log(
        writePostgresSchema() ? `Wrote ${rel(pgSchemaPath)}.` : `${rel(pgSchemaPath)} is up to date.`,
      )
      return 0
    case 'status':
      return status(values.url ?? process.env.DATABASE_URL ?? 'file:./data/status.db')
    default:
      throw new UsageError(
        'Usage: prisma-migrate.ts create --name <name> | check | schema | status [--url file:…|postgresql://…]',
      )
  }
}

// Exits explicitly: the engine leaves a 10 s advisory-lock timer behind on PostgreSQL.
main(process.argv.slice(2)).then(
  (code) => {
    server?.stop?.()
    process.exit(code)
  },
  (error: unknown) => {
    server?.stop?.()
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error((error as Error).message)
      process.exit(2)
    }
    console.error(error)
    process.exit(1)
  },
)
