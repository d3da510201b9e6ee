import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { defaultMigrationsDir, migrateSqliteDatabase, parseSqliteUrl } from '../../src/db/migrate'

const projectRoot = path.resolve(__dirname, '../..')
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

let workDir: string
beforeEach(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-test-'))
})
afterEach(() => {
  fs.rmSync(workDir, { recursive: true, force: true })
})

/** A migrations folder of our own, so tests can edit and break migrations freely. */
function writeMigrations(migrations: Record<string, string>): string {
  const dir = path.join(workDir, 'migrations')
  for (const [name, sql] of Object.entries(migrations)) {
    fs.mkdirSync(path.join(dir, name), { recursive: true })
    fs.writeFileSync(path.join(dir, name, 'migration.sql'), sql)
  }
  return dir
}

function query<T>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(sql).all() as T[]
  } finally {
    db.close()
  }
}

const tableNames = (file: string) =>
  query<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map(
    (row) => row.name,
  )

describe('migrateSqliteDatabase with the committed migrations', () => {
  const committed = fs
    .readdirSync(defaultMigrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()

  it('finds prisma/migrations from the source tree', () => {
    expect(defaultMigrationsDir).toBe(path.join(projectRoot, 'prisma', 'migrations'))
    expect(committed.length).toBeGreaterThan(0)
  })

  it('when the database is new, then every migration is applied and the tables exist', () => {
    const file = path.join(workDir, 'nested', 'dir', 'status.db')

    const { applied } = migrateSqliteDatabase(file)

    expect(applied).toEqual(committed)
    expect(tableNames(file)).toEqual(
      expect.arrayContaining([
        '_prisma_migrations',
        'api_keys',
        'idempotency_records',
        'settings',
        'status_events',
        'statuses',
        'tenants',
      ]),
    )
    expect(query<{ journal_mode: string }>(file, 'PRAGMA journal_mode')[0]!.journal_mode).toBe('wal')
  })

  it('when the database is new, then history is recorded the way Prisma records it', () => {
    const file = path.join(workDir, 'status.db')
    migrateSqliteDatabase(file)

    const rows = query<Record<string, unknown>>(
      file,
      'SELECT * FROM _prisma_migrations ORDER BY migration_name',
    )
    expect(rows).toHaveLength(committed.length)
    rows.forEach((row, i) => {
      const script = fs.readFileSync(path.join(defaultMigrationsDir, committed[i]!, 'migration.sql'), 'utf8')
      expect(row).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        checksum: sha256(script),
        finished_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/),
        migration_name: committed[i],
        logs: null,
        rolled_back_at: null,
        started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/),
        applied_steps_count: 1,
      })
    })
  })

  it('when the database is up to date, then a second run applies nothing', () => {
    const file = path.join(workDir, 'status.db')
    migrateSqliteDatabase(file)

    expect(migrateSqliteDatabase(file)).toEqual({ applied: [] })
    expect(query(file, 'SELECT * FROM _prisma_migrations')).toHaveLength(committed.length)
  })
})

describe('migrateSqliteDatabase with changing migrations', () => {
  const first =
    'CREATE TABLE "a" ("id" TEXT NOT NULL PRIMARY KEY);\nCREATE TABLE "b" ("id" TEXT NOT NULL PRIMARY KEY);\n'

  it('when a new migration is committed, then only that one is applied', () => {
    const dir = writeMigrations({ '20240101000000_first': first })
    const file = path.join(workDir, 'db.sqlite')
    migrateSqliteDatabase(file, dir)
    writeMigrations({ '20240201000000_second': 'ALTER TABLE "a" ADD COLUMN "note" TEXT;\n' })

    expect(migrateSqliteDatabase(file, dir)).toEqual({ applied: ['20240201000000_second'] })
    expect(query<{ name: string }>(file, 'PRAGMA table_info("a")').map((c) => c.name)).toEqual(['id', 'note'])
  })

  it('when an applied migration was edited, then it refuses to start and changes nothing', () => {
    const dir = writeMigrations({ '20240101000000_first': first })
    const file = path.join(workDir, 'db.sqlite')
    migrateSqliteDatabase(file, dir)
    writeMigrations({
      '20240101000000_first': first.replace('"b"', '"c"'),
      '20240201000000_second': 'CREATE TABLE "d" ("id" TEXT);\n',
    })

    expect(() => migrateSqliteDatabase(file, dir)).toThrow(
      /20240101000000_first was modified after it was applied .*checksum mismatch/,
    )
    expect(tableNames(file)).not.toContain('d')
  })

  it('when an applied migration only changed its line endings, then it is still accepted', () => {
    const dir = writeMigrations({ '20240101000000_first': first })
    const file = path.join(workDir, 'db.sqlite')
    migrateSqliteDatabase(file, dir)
    writeMigrations({ '20240101000000_first': first.replace(/\n/g, '\r\n') })

    expect(migrateSqliteDatabase(file, dir)).toEqual({ applied: [] })
  })

  it('when a migration fails, then none of it is kept and later migrations are not run', () => {
    const dir = writeMigrations({
      '20240101000000_first': first,
      '20240201000000_broken': 'CREATE TABLE "e" ("id" TEXT);\nCREATE TABLE "a" ("id" TEXT);\n',
      '20240301000000_third': 'CREATE TABLE "f" ("id" TEXT);\n',
    })
    const file = path.join(workDir, 'db.sqlite')

    expect(() => migrateSqliteDatabase(file, dir)).toThrow(
      /Migration 20240201000000_broken failed and was rolled back: .*already exists/,
    )
    expect(tableNames(file)).toEqual(['_prisma_migrations', 'a', 'b'])
    expect(query(file, 'SELECT migration_name FROM _prisma_migrations')).toEqual([
      { migration_name: '20240101000000_first' },
    ])
  })

  it('when a migration leaves rows pointing at nothing, then it is rolled back', () => {
    const dir = writeMigrations({
      '20240101000000_orphans': [
        'CREATE TABLE "parent" ("id" TEXT NOT NULL PRIMARY KEY);',
        'CREATE TABLE "child" ("id" TEXT NOT NULL PRIMARY KEY, "parent_id" TEXT REFERENCES "parent" ("id"));',
        `INSERT INTO "child" VALUES ('c1', 'missing');`,
        '',
      ].join('\n'),
    })
    const file = path.join(workDir, 'db.sqlite')

    expect(() => migrateSqliteDatabase(file, dir)).toThrow(/1 foreign key violation/)
    expect(tableNames(file)).toEqual(['_prisma_migrations'])
  })

  it('when a table with dependants is rebuilt, then the dependants keep their rows', () => {
    const dir = writeMigrations({
      '20240101000000_first': [
        'CREATE TABLE "parent" ("id" TEXT NOT NULL PRIMARY KEY);',
        'CREATE TABLE "child" ("id" TEXT NOT NULL PRIMARY KEY,',
        '  "parent_id" TEXT NOT NULL REFERENCES "parent" ("id") ON DELETE CASCADE);',
        '',
      ].join('\n'),
    })
    const file = path.join(workDir, 'db.sqlite')
    migrateSqliteDatabase(file, dir)
    const db = new Database(file)
    db.exec(`INSERT INTO "parent" VALUES ('p1'); INSERT INTO "child" VALUES ('c1', 'p1');`)
    db.close()
    // The shape Prisma generates for SQLite when it has to rebuild a table.
    writeMigrations({
      '20240201000000_rebuild_parent': [
        'PRAGMA defer_foreign_keys=ON;',
        'PRAGMA foreign_keys=OFF;',
        'CREATE TABLE "new_parent" ("id" TEXT NOT NULL PRIMARY KEY, "name" TEXT);',
        'INSERT INTO "new_parent" ("id") SELECT "id" FROM "parent";',
        'DROP TABLE "parent";',
        'ALTER TABLE "new_parent" RENAME TO "parent";',
        'PRAGMA foreign_keys=ON;',
        'PRAGMA defer_foreign_keys=OFF;',
        '',
      ].join('\n'),
    })

    expect(migrateSqliteDatabase(file, dir).applied).toEqual(['20240201000000_rebuild_parent'])
    expect(query(file, 'SELECT * FROM "child"')).toEqual([{ id: 'c1', parent_id: 'p1' }])
  })

  it('when another tool recorded a failed migration, then it refuses to start', () => {
    const dir = writeMigrations({ '20240101000000_first': first })
    const file = path.join(workDir, 'db.sqlite')
    migrateSqliteDatabase(file, dir)
    const db = new Database(file)
    db.prepare(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES ('x', 'y', 'z_manual', 'now')`,
    ).run()
    db.close()

    expect(() => migrateSqliteDatabase(file, dir)).toThrow(/has failed migrations \(z_manual\)/)
  })

  it('when the migrations folder is missing, then it says where it looked', () => {
    const missing = path.join(workDir, 'nowhere')
    expect(() => migrateSqliteDatabase(path.join(workDir, 'db.sqlite'), missing)).toThrow(
      `No migrations directory at ${missing}`,
    )
  })

  it('when a migration folder has no migration.sql, then it names the folder', () => {
    const dir = writeMigrations({ '20240101000000_first': first })
    fs.mkdirSync(path.join(dir, '20240201000000_empty'))
    expect(() => migrateSqliteDatabase(path.join(workDir, 'db.sqlite'), dir)).toThrow(
      /20240201000000_empty has no migration.sql/,
    )
  })
})

describe('parseSqliteUrl', () => {
  it('when the path is relative, then it resolves against the working directory', () => {
    expect(parseSqliteUrl('file:./data/status.db')).toBe(path.join(process.cwd(), 'data', 'status.db'))
    expect(parseSqliteUrl('file:status.db')).toBe(path.join(process.cwd(), 'status.db'))
  })

  it('when the path is absolute, then it is kept', () => {
    expect(parseSqliteUrl('file:/var/lib/status/status.db')).toBe('/var/lib/status/status.db')
    expect(parseSqliteUrl('file:///var/lib/status/status.db')).toBe('/var/lib/status/status.db')
  })

  it('when the URL carries connection options, then they are not part of the path', () => {
    expect(parseSqliteUrl('file:/tmp/a.db?connection_limit=1')).toBe('/tmp/a.db')
  })

  it('when the URL is not a SQLite file URL, then it is rejected', () => {
    expect(() => parseSqliteUrl('postgresql://localhost/db')).toThrow(/Not a SQLite file: URL/)
    expect(() => parseSqliteUrl('file:')).toThrow(/has no file path/)
  })
})

describe('prisma-migrate check', () => {
  it('when the committed migrations produce prisma/schema.prisma, then it exits 0', () => {
    const result = spawnSync(
      path.join(projectRoot, 'node_modules', '.bin', 'tsx'),
      [path.join(projectRoot, 'scripts', 'prisma-migrate.ts'), 'check'],
      { cwd: projectRoot, encoding: 'utf8', timeout: 150_000 },
    )

    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' })
    expect(result.stdout).toMatch(/^OK: \d+ sqlite migration\(s\) produce exactly prisma\/schema.prisma/)
  }, 180_000)
})
