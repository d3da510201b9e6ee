// Prisma's real schema engine (the wasm build) driven through a driver adapter (better-sqlite3 or pg), so
// migrations can be created and checked on machines where the native engine cannot be downloaded.
// Dev-only: the app applies migrations at start-up with src/db/migrate.ts and never loads this.
import fs from 'node:fs'
import path from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils'
import type { MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm' with {
  'resolution-mode': 'import',
}

type EngineModule = typeof import('@prisma/schema-engine-wasm/schema_engine_bg', {
  with: { 'resolution-mode': 'import' },
})

// @types/node 20 leaves the WebAssembly global undeclared (lib "dom" would declare it, and much else).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> }
}

const LOCKFILE = 'migration_lock.toml'
const MIGRATION_FILE = 'migration.sql'

// The full-text index and its shadow tables are created by hand in a migration (Prisma's schema
// language has no virtual tables), so Prisma leaves them out of its comparison. PostgreSQL has no such
// table (its trigram index is an ordinary index Prisma does not compare).
const SEARCH_TABLES = ['', '_config', '_data', '_docsize', '_idx'].map((suffix) => `status_search${suffix}`)
const sqliteFilter: SchemaFilter = { externalTables: SEARCH_TABLES, externalEnums: [] }
const noFilter: SchemaFilter = { externalTables: [], externalEnums: [] }

/** The database an engine works on: a SQLite file, or a PostgreSQL database by URL. */
export type EngineTarget = { provider: 'sqlite'; file: string } | { provider: 'postgresql'; url: string }

/**
 * The adapter cannot map PostgreSQL's internal `"char"` type (OID 18), which the engine's introspection
 * queries return ("Column type 'char' could not be deserialized"); as text it reads fine.
 */
class CharAsTextClient extends pg.Client {
  // pg's overloads cannot be restated in a subclass; this passes every form through unchanged.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const relabel = (result: unknown) => {
      for (const field of (result as pg.QueryResult | undefined)?.fields ?? []) {
        if (field.dataTypeID === 18) field.dataTypeID = 25
      }
      return result
    }
    const last = args[args.length - 1]
    if (typeof last === 'function') {
      args[args.length - 1] = (err: Error, result: unknown) => last(err, relabel(result))
      return (super.query as (...a: unknown[]) => unknown)(...args)
    }
    const returned = (super.query as (...a: unknown[]) => unknown)(...args)
    return returned instanceof Promise ? returned.then(relabel) : returned
  }
}

function adapterFactoryFor(target: EngineTarget): SqlMigrationAwareDriverAdapterFactory {
  if (target.provider === 'sqlite') return new PrismaBetterSqlite3({ url: `file:${target.file}` })
  return new PrismaPg({ connectionString: target.url, Client: CharAsTextClient, max: 2 })
}

/**
 * adapter-pg runs a script by splitting it at every `;`, which cuts PL/pgSQL function bodies apart.
 * PostgreSQL's simple query protocol takes the whole script at once.
 */
function wholeScripts(adapter: SqlDriverAdapter): SqlDriverAdapter {
  if (adapter.provider !== 'postgres') return adapter
  const driver = (adapter as unknown as { underlyingDriver(): pg.Pool }).underlyingDriver()
  adapter.executeScript = async (script: string) => {
    await driver.query(script)
  }
  return adapter
}

let engineModule: Promise<EngineModule> | undefined

// Node 20 cannot `import` a .wasm file (the package's main entry does exactly that), so wire the
// wasm-bindgen glue to an instance we compile ourselves. The glue keeps the instance in module state,
// hence one instance per process.
function loadEngineModule(): Promise<EngineModule> {
  engineModule ??= (async () => {
    const bg = await import('@prisma/schema-engine-wasm/schema_engine_bg')
    // The .wasm file is not in the package's exports; find it next to the glue module.
    const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
    const wasmPath = path.join(path.dirname(gluePath), 'schema_engine_bg.wasm')
    const compiled = new WebAssembly.Module(fs.readFileSync(wasmPath))
    const instance = new WebAssembly.Instance(compiled, { './schema_engine_bg.js': bg })
    bg.__wbg_set_wasm(instance.exports)
    ;(instance.exports.__wbindgen_start as () => void)()
    return bg
  })()
  return engineModule
}

export interface EngineSession {
  engine: SchemaEngine
  /** The tables Prisma leaves out of comparisons on this engine's database. */
  filters: SchemaFilter
  /** Frees the engine and closes every database connection it opened. */
  close(): Promise<void>
}

/**
 * Starts a schema engine whose "main database" is `target` (a SQLite file path means that file).
 *
 * The engine never disposes the adapter connections it opens, and a later engine in the same process
 * then meets SQLITE_BUSY (surfacing as an unknown "SocketTimeout"). We hand it a factory that keeps
 * every connection so close() can dispose them.
 */
export async function openEngine(schemaPath: string, target: EngineTarget | string): Promise<EngineSession> {
  const bg = await loadEngineModule()
  const resolved: EngineTarget = typeof target === 'string' ? { provider: 'sqlite', file: target } : target
  const inner = adapterFactoryFor(resolved)
  const opened: SqlDriverAdapter[] = []
  const track = async (connection: Promise<SqlDriverAdapter>) => {
    const adapter = wholeScripts(await connection)
    opened.push(adapter)
    return adapter
  }
  const tracking: SqlMigrationAwareDriverAdapterFactory = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: () => track(inner.connect()),
    connectToShadowDb: () => track(inner.connectToShadowDb()),
  }

  const engine = await bg.SchemaEngine.new(
    { datamodels: [[schemaPath, fs.readFileSync(schemaPath, 'utf8')]] },
    logEngineMessage,
    bindMigrationAwareSqlAdapterFactory(tracking),
  )
  return {
    engine,
    filters: resolved.provider === 'sqlite' ? sqliteFilter : noFilter,
    async close() {
      engine.free()
      await Promise.all(opened.splice(0).map((adapter) => adapter.dispose()))
    },
  }
}

function logEngineMessage(line: string): void {
  if (process.env.PRISMA_MIGRATE_DEBUG) console.error(line)
}

/** Reads a migrations folder the same way the Prisma CLI does before handing it to the engine. */
export function listMigrations(migrationsDir: string): MigrationList {
  const lockPath = path.join(migrationsDir, LOCKFILE)
  const entries = fs.existsSync(migrationsDir) ? fs.readdirSync(migrationsDir, { withFileTypes: true }) : []
  const migrationDirectories = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b))
    .map((name) => ({
      path: name,
      migrationFile: {
        path: MIGRATION_FILE,
        content: readMigrationFile(path.join(migrationsDir, name, MIGRATION_FILE)),
      },
    }))
  return {
    baseDir: migrationsDir,
    lockfile: {
      path: LOCKFILE,
      content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : null,
    },
    shadowDbInitScript: '',
    migrationDirectories,
  }
}

function readMigrationFile(file: string) {
  try {
    return { tag: 'ok' as const, value: fs.readFileSync(file, 'utf8') }
  } catch (error) {
    return { tag: 'error' as const, value: (error as Error).message }
  }
}

/** The lock file exactly as `prisma migrate dev` writes it. */
export function lockfileContent(provider: string): string {
  return (
    '# Please do not edit this file manually\n' +
    '# It should be added in your version-control system (e.g., Git)\n' +
    `provider = "${provider}"\n`
  )
}

/**
 * Applies the committed migrations to the engine's database with the engine itself.
 *
 * This stands in for the engine's shadow database, which replays migrations through `queryRaw`: the
 * better-sqlite3 adapter refuses multi-statement SQL there (P3006), while `applyMigrations` runs each
 * script whole. (The wasm `createMigration` offers SQLite no shadow database at all.)
 */
export async function replayMigrations(session: EngineSession, migrationsDir: string): Promise<string[]> {
  const { appliedMigrationNames } = await session.engine.applyMigrations({
    migrationsList: listMigrations(migrationsDir),
    filters: session.filters,
  })
  return appliedMigrationNames
}

export interface SchemaDiff {
  /** The SQL that takes the database to the schema, as Prisma renders a migration. */
  script: string
  /** Prisma's human-readable summary of the same change. */
  summary: string
}

/** What it would take to bring the engine's database in line with the schema; undefined if nothing. */
export async function diffDatabaseToSchema(
  session: EngineSession,
  schemaPath: string,
): Promise<SchemaDiff | undefined> {
  const files = [{ path: schemaPath, content: fs.readFileSync(schemaPath, 'utf8') }]
  const diff = (script: boolean) =>
    session.engine.diff({
      // "schemaDatasource" means the live database behind the schema, which here is the adapter's file.
      from: { tag: 'schemaDatasource', files, configDir: path.dirname(schemaPath) },
      to: { tag: 'schemaDatamodel', files },
      script,
      exitCode: true,
      filters: session.filters,
    })
  const scriptResult = await diff(true)
  if (scriptResult.exitCode === 0) return undefined
  const summaryResult = await diff(false)
  return { script: scriptResult.stdout ?? '', summary: (summaryResult.stdout ?? '').trim() }
}
