import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'

/**
 * The store the integration tests run against: SQLite by default, PostgreSQL when TEST_POSTGRES_URL names
 * a server (scripts/run-status-tests.ts starts one with scripts/start-postgres.sh).
 */
export const testPostgresUrl = process.env.TEST_POSTGRES_URL || undefined
export const testStore: 'sqlite' | 'postgresql' = testPostgresUrl ? 'postgresql' : 'sqlite'

/** Tests of SQLite-only behaviour (the file, its pragmas, FTS5 internals) run only on the SQLite pass. */
export const describeSqlite = testStore === 'sqlite' ? describe : describe.skip
export const testSqlite = testStore === 'sqlite' ? test : test.skip

export interface TestDatabase {
  url: string
  /** The SQLite file (SQLite only). */
  file: string
  drop(): Promise<void>
}

/** A new, empty database: a file in a temp directory, or a database of its own on the PostgreSQL server. */
export async function createTestDatabase(name = 'status'): Promise<TestDatabase> {
  if (!testPostgresUrl) {
    const dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-test-'))
    const file = path.join(dir, `${name}.db`)
    return { url: `file:${file}`, file, drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
  const database = `test_${name.replace(/\W/g, '_')}_${randomBytes(5).toString('hex')}`
  await admin(`CREATE DATABASE "${database}"`)
  const url = new URL(testPostgresUrl)
  url.pathname = `/${database}`
  return {
    url: url.toString(),
    file: '',
    drop: () => admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
  }
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testPostgresUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}
