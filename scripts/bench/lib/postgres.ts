// PostgreSQL for the bench: a throw-away server (scripts/start-postgres.sh) or BENCH_POSTGRES_URL, a fresh
// database per scenario, the server's CPU time, and the same direct access sqlite.ts gives to SQLite files.
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { Client } from 'pg'
import { fixtureId } from './sqlite'

const run = promisify(execFile)

export interface PostgresServer {
  /** The maintenance database's URL (`…/postgres`). */
  url: string
  /** PostgreSQL's version, as the server reports it. */
  version: string
  /** CPU time of the server and all its backends so far, in ms; null when it is not on this machine. */
  cpuMs(): number | null
  /** A new, empty database on this server, named `<prefix>_<n>`; its URL. */
  createDatabase(prefix: string): Promise<string>
  /** Stops a server this process started (safe to call twice); leaves BENCH_POSTGRES_URL's alone. */
  stop(): Promise<void>
}

const stat = (pid: string) => {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

/**
 * utime + stime of the postmaster and each live backend, plus the postmaster's cutime + cstime: the time
 * of backends that have exited, which the kernel adds to their parent once it reaps them.
 */
function postmasterCpuMs(pid: string): number | null {
  try {
    const own = stat(pid)
    let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const fields = stat(entry)
        if (fields[1] === pid) ticks += Number(fields[11]) + Number(fields[12])
      } catch {
        // gone meanwhile
      }
    }
    return (ticks * 1000) / 100
  } catch {
    return null
  }
}

let databaseCount = 0

function withDatabase(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, params)).rows as T[]
  } finally {
    await client.end()
  }
}

/** Starts scripts/start-postgres.sh's server, or attaches to `externalUrl` when one is given. */
export async function startPostgres(rootDir: string, externalUrl?: string): Promise<PostgresServer> {
  const script = path.join(rootDir, 'scripts', 'start-postgres.sh')
  let url = externalUrl
  let dir: string | undefined
  if (!url) {
    const { stdout, stderr } = await run(script, [], { cwd: rootDir }).catch((err: { stderr?: string }) => {
      throw new Error(`scripts/start-postgres.sh failed: ${err.stderr ?? String(err)}`)
    })
    url = stdout.trim().split('\n').at(-1)!
    dir = stderr.match(/running in (\S+)/)?.[1]
  }
  const pidFile = dir && path.join(dir, 'data', 'postmaster.pid')
  const pid = pidFile && existsSync(pidFile) ? readFileSync(pidFile, 'utf8').split('\n')[0] : undefined
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= dir
      ? run(script, ['--stop', dir], { cwd: rootDir }).then(() => undefined)
      : Promise.resolve())
  let version: string
  try {
    const [row] = await query<{ server_version: string }>(url, 'SHOW server_version')
    version = row!.server_version
  } catch (err) {
    await stop()
    throw err
  }
  const adminUrl = url
  return {
    url,
    version: version.split(' ')[0]!,
    cpuMs: () => (pid ? postmasterCpuMs(pid) : null),
    async createDatabase(prefix) {
      const name = `${prefix}_${process.pid}_${++databaseCount}`
      await query(adminUrl, `CREATE DATABASE "${name}"`)
      return withDatabase(adminUrl, name)
    },
    stop,
  }
}

/**
 * PostgreSQL's form of sqlite.ts's cloneStatuses: copies `templateId` to `<prefix>-00000 …` in one
 * statement (the count trigger fires per row, as it does for the service's own inserts).
 */
export async function cloneStatusesPg(
  url: string,
  tenantId: string,
  templateId: string,
  prefix: string,
  count: number,
): Promise<string[]> {
  const client = new Client({ connectionString: url })
  await client.connect()
  try {
    const columns = (
      await client.query<{ column_name: string }>(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'statuses' ORDER BY ordinal_position",
      )
    ).rows.map((c) => c.column_name)
    const select = columns.map((c) =>
      c === 'status_id' ? `$1::text || '-' || lpad(n.i::text, 5, '0')` : `t.${c}`,
    )
    await client.query(
      `INSERT INTO statuses (${columns.join(', ')})
       SELECT ${select.join(', ')} FROM generate_series(0, $2::int - 1) n(i)
       JOIN statuses t ON t.tenant_id = $3 AND t.status_id = $4
       ON CONFLICT DO NOTHING`,
      [prefix, count, tenantId, templateId],
    )
    const found = await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM statuses WHERE tenant_id = $1 AND status_id BETWEEN $2 AND $3',
      [tenantId, fixtureId(prefix, 0), fixtureId(prefix, count - 1)],
    )
    if (Number(found.rows[0]!.n) < count)
      throw new Error(`cloned ${found.rows[0]!.n} of ${count} ${prefix} fixtures`)
  } finally {
    await client.end()
  }
  return Array.from({ length: count }, (_, i) => fixtureId(prefix, i))
}

/** The feed's head on PostgreSQL: one connection, `tenants.last_seq` on demand. */
export async function openFeedHeadPg(url: string, tenantId: string) {
  const client = new Client({ connectionString: url })
  await client.connect()
  return {
    lastSeq: async () =>
      Number(
        (await client.query<{ last_seq: string }>('SELECT last_seq FROM tenants WHERE id = $1', [tenantId]))
          .rows[0]?.last_seq ?? 0,
      ),
    close: () => client.end(),
  }
}
