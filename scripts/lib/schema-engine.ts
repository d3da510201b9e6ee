// Prisma's real schema engine (the wasm build) driven through the better-sqlite3 driver adapter, so
// migrations can be created and checked on machines where the native engine cannot be downloaded.
// Dev-only: the app applies migrations at start-up with src/db/migrate.ts and never loads this.
import fs from 'node:fs'
import path from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
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
// language has no virtual tables), so Prisma leaves them out of its comparison.
const SEARCH_TABLES = ['', '_config', '_data', '_docsize', '_idx'].map((suffix) => `status_search${suffix}`)
export const schemaFilter: SchemaFilter = { externalTables: SEARCH_TABLES, externalEnums: [] }

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
  /** Frees the engine and closes every database connection it opened. */
  close(): Promise<void>
}

/**
 * Starts a schema engine whose "main database" is the SQLite file at `dbPath`.
 *
 * The engine never disposes the adapter connections it opens, and a later engine in the same process
 * then meets SQLITE_BUSY (surfacing as an unknown "SocketTimeout"). We hand it a factory that keeps
 * every connection so close() can dispose them.
 */
export async function openEngine(schemaPath: string, dbPath: string): Promise<EngineSession> {
  const bg = await loadEngineModule()
  const inner = new PrismaBetterSqlite3({ url: `file:${dbPath}` })
  const opened: SqlDriverAdapter[] = []
  const track = async (connection: Promise<SqlDriverAdapter>) => {
    const adapter = await connection
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
    filters: schemaFilter,
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
      filters: schemaFilter,
    })
  const scriptResult = await diff(true)
  if (scriptResult.exitCode === 0) return undefined
  const summaryResult = await diff(false)
  return { script: scriptResult.stdout ?? '', summary: (summaryResult.stdout ?? '').trim() }
}
