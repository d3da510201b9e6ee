import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import pg from 'pg'
import { projectRoot } from './server-process'

/** Debian's PostgreSQL server binaries (.ci/run installs them; without them only SQLite runs). */
export const havePostgresBinaries = (() => {
  try {
    return readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
  } catch {
    return false
  }
})()

/** Starts a throw-away server with scripts/start-postgres.sh; its URL. */
export function startPostgresServer(): string {
  const out = execFileSync('bash', ['scripts/start-postgres.sh'], { cwd: projectRoot, encoding: 'utf8' })
  const url = out.trim().split('\n').at(-1)!
  if (!url.startsWith('postgresql://')) throw new Error(`scripts/start-postgres.sh said:\n${out}`)
  return url
}

/** Stops the server and deletes its data. */
export const stopPostgresServer = (url: string) =>
  execFileSync('bash', ['scripts/start-postgres.sh', '--stop', url], { cwd: projectRoot })

/** A fresh, empty database on the server at `serverUrl`: its name, and its URL. */
export async function createDatabase(
  serverUrl: string,
  prefix: string,
): Promise<{ name: string; url: string }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return { name, url: url.toString() }
}
