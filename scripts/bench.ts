import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import { authHeaders, createStatuses, type ServiceTarget } from './bench/lib/fixtures'
import { parseArgs, usage, UsageError, type BenchOptions } from './bench/lib/options'
import { startPostgres, type PostgresServer } from './bench/lib/postgres'
import {
  freePort,
  HOST,
  logTail,
  startServer,
  startWorker,
  stopAll,
  type ChildServer,
} from './bench/lib/processes'
import {
  buildReport,
  combinedMarkdown,
  combineReports,
  toMarkdown,
  withRatios,
  type BenchReport,
  type SectionResult,
} from './bench/lib/report'
import type { BenchContext } from './bench/lib/context'
import { scenarios, type HttpScenario, type Scenario } from './bench/scenarios'
import { storeAccess, type DatabaseProvider } from './bench/lib/store'
import type { Measurement } from './bench/lib/load'

const rootDir = path.resolve(__dirname, '..')
const resultsDir = path.join(rootDir, 'bench', 'results')
const serverEntry = path.join(rootDir, 'dist', 'src', 'server.js')

class SetupError extends Error {}

function selectScenarios(only: string[] | undefined): Scenario[] {
  if (!only) return scenarios
  const known = scenarios.map((s) => s.name)
  const unknown = only.filter((name) => !known.includes(name))
  if (unknown.length > 0)
    throw new UsageError(`unknown scenario ${unknown.join(', ')} (have ${known.join(', ')})`)
  return scenarios.filter((s) => s.ceiling || only.includes(s.name))
}

function build(): void {
  console.log('> npm run build')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['run', 'build'], { cwd: rootDir, stdio: 'inherit' })
  if (result.status !== 0) throw new SetupError('npm run build failed')
}

// The tenant of the admin key a fresh database prints (src/services/api-key-service.ts).
const TENANT = 'default'

function sqliteProvider(tmpDir: string): DatabaseProvider {
  const db = new BetterSqlite3(':memory:')
  const version = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
  db.close()
  return {
    kind: 'sqlite',
    label: `SQLite ${version} (in the service's process)`,
    create: async (name) => `file:${path.join(tmpDir, `${name}.db`)}`,
    cpuMs: () => 0,
  }
}

function postgresProvider(server: PostgresServer): DatabaseProvider {
  const local = server.cpuMs() !== null
  return {
    kind: 'postgres',
    label: `PostgreSQL ${server.version}${local ? '' : ' (BENCH_POSTGRES_URL; its CPU not measured)'}`,
    create: (name) => server.createDatabase(`bench_${name}`),
    cpuMs: () => server.cpuMs() ?? 0,
  }
}

/** The built server on `databaseUrl`; `name` tells instances apart in the logs. */
async function startInstance(
  options: BenchOptions,
  tmpDir: string,
  databaseUrl: string,
  name: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<ChildServer> {
  if (!existsSync(serverEntry))
    throw new SetupError(`${path.relative(rootDir, serverEntry)} is missing: build first`)
  const port = await freePort()
  const profiling =
    options.cpuProfDir && name === 'service'
      ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(options.cpuProfDir)]
      : []
  return startServer({
    name,
    nodeArgs: [...profiling, serverEntry],
    cwd: rootDir,
    port,
    logFile: path.join(tmpDir, `${name}.log`),
    readyPath: '/health',
    env: {
      ...process.env,
      // High enough never to reject, so the limiter's cost is measured but not its refusals (the
      // overload scenario's instance sets its own).
      RATE_LIMIT_RPS: '1000000',
      RATE_LIMIT_BURST: '2000000',
      ...extraEnv,
      NODE_ENV: 'production',
      HOST,
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: options.logLevel,
    },
  })
}

async function startService(
  options: BenchOptions,
  tmpDir: string,
  databaseUrl: string,
): Promise<{ server: ChildServer; apiKey: string }> {
  const server = await startInstance(options, tmpDir, databaseUrl, 'service')
  // A fresh database prints its admin key once, before it starts listening.
  const apiKey = readFileSync(server.logFile, 'utf8').match(/\b(st_[A-Za-z0-9_-]+)/)?.[1]
  if (!apiKey) throw new SetupError(`the service printed no admin key:\n${logTail(server.logFile)}`)
  return { server, apiKey }
}

async function startHello(tmpDir: string): Promise<ChildServer> {
  const port = await freePort()
  return startServer({
    name: 'hello-world',
    nodeArgs: ['--import', 'tsx', path.join(__dirname, 'bench', 'workers', 'hello-server.ts')],
    cwd: rootDir,
    port,
    logFile: path.join(tmpDir, 'hello.log'),
    readyPath: '/',
    env: { ...process.env, NODE_ENV: 'production', HOST, PORT: String(port) },
  })
}

async function createTemplate(target: ServiceTarget, statusId: string): Promise<void> {
  const res = await fetch(`${target.url}/api/status`, {
    method: 'POST',
    headers: { ...authHeaders(target.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({
      status_id: statusId,
      kind: 'bench.fixture',
      status: 'processing',
      tags: ['bench'],
    }),
  })
  const text = await res.text()
  if (res.status !== 201) throw new Error(`creating fixture ${statusId}: HTTP ${res.status} ${text}`)
}

function makeContext(
  service: ChildServer,
  apiKey: string,
  databaseUrl: string,
  database: DatabaseProvider,
  hello: ChildServer,
  options: BenchOptions,
  tmpDir: string,
): BenchContext {
  const fixtures = new Map<string, Promise<string[]>>()
  const target: ServiceTarget = { url: service.url, apiKey }
  const workersDir = path.join(__dirname, 'bench', 'workers')
  const store = storeAccess(databaseUrl)
  return {
    service: { ...target, cpuMs: service.cpuMs, tenantId: TENANT },
    store,
    database,
    hello: { url: hello.url, cpuMs: hello.cpuMs },
    settings: {
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      connections: options.connections,
    },
    options,
    part: { durationSec: Math.min(options.durationSec, 5), warmupSec: Math.min(options.warmupSec, 1) },
    rootDir,
    tmpDir,
    clonedIds(prefix, count) {
      const key = `clone:${prefix}:${count}`
      let ids = fixtures.get(key)
      if (!ids) {
        const templateId = `${prefix}-template`
        ids = createTemplate(target, templateId).then(() =>
          store.cloneStatuses(TENANT, templateId, prefix, count),
        )
        fixtures.set(key, ids)
      }
      return ids
    },
    startWorker: (name, script, nodeArgs) =>
      startWorker({
        name,
        script: path.join(workersDir, script),
        nodeArgs,
        cwd: rootDir,
        logFile: path.join(tmpDir, `${name}.log`),
        env: { ...process.env, NODE_ENV: 'production' },
      }),
    startInstance: (name, env) => startInstance(options, tmpDir, databaseUrl, name, env),
    async startServer(name, script) {
      const port = await freePort()
      return startServer({
        name,
        nodeArgs: ['--import', 'tsx', path.join(workersDir, script)],
        cwd: rootDir,
        port,
        logFile: path.join(tmpDir, `${name}.log`),
        readyPath: '/health',
        env: { ...process.env, NODE_ENV: 'production', HOST, PORT: String(port) },
      })
    },
    statusIds(prefix, count) {
      const key = `${prefix}:${count}`
      let ids = fixtures.get(key)
      if (!ids) {
        ids = createStatuses(target, prefix, count)
        fixtures.set(key, ids)
      }
      return ids
    },
  }
}

const summaryLine = (m: Measurement) =>
  `${Math.round(m.requestsPerSec)} req/s, p50 ${m.latencyMs.p50} ms, p99 ${m.latencyMs.p99} ms, ` +
  `${m.non2xx} non-2xx, ${m.errors} errors`

async function runStore(
  options: BenchOptions,
  selected: Scenario[],
  tmpDir: string,
  database: DatabaseProvider,
): Promise<BenchReport> {
  const startedAt = new Date()
  mkdirSync(tmpDir, { recursive: true })
  const databaseUrl = await database.create('service')
  const [hello, { server, apiKey }] = await Promise.all([
    startHello(tmpDir),
    startService(options, tmpDir, databaseUrl),
  ])
  console.log(
    `\n${database.label}: service ${server.url} (pid ${server.child.pid}), hello-world ${hello.url} (pid ${hello.child.pid})`,
  )
  const ctx = makeContext(server, apiKey, databaseUrl, database, hello, options, tmpDir)

  const measured: (HttpScenario & { measurement: Measurement })[] = []
  const sections: SectionResult[] = []
  for (const scenario of selected) {
    if (scenario.stores && !scenario.stores.includes(database.kind)) continue
    process.stdout.write(`${scenario.title} … `)
    if (scenario.kind === 'section') {
      const section = await scenario.run(ctx)
      console.log(section.summary)
      sections.push(section)
    } else {
      const measurement = await scenario.run(ctx)
      console.log(summaryLine(measurement))
      measured.push({ ...scenario, measurement })
    }
    for (const child of [server, hello]) {
      if (child.child.exitCode !== null || child.child.signalCode !== null) {
        throw new SetupError(`${child.name} died during "${scenario.name}":\n${logTail(child.logFile)}`)
      }
    }
  }

  // Stop before writing, so a --cpu-prof profile is complete when the report mentions it.
  await stopAll()
  return buildReport(options, database, withRatios(measured), sections, startedAt)
}

async function run(
  options: BenchOptions,
  selected: Scenario[],
  tmpDir: string,
  postgres: () => Promise<PostgresServer>,
): Promise<void> {
  if (options.build) build()
  const reports: BenchReport[] = []
  for (const kind of options.db) {
    const storeDir = path.join(tmpDir, kind)
    const database = kind === 'sqlite' ? sqliteProvider(storeDir) : postgresProvider(await postgres())
    reports.push(await runStore(options, selected, storeDir, database))
  }
  const [first] = reports
  const report = reports.length === 1 ? first! : combineReports(reports)
  const markdown = reports.length === 1 ? toMarkdown(first!) : combinedMarkdown(reports)
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(path.join(resultsDir, `${options.out}.json`), `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(path.join(resultsDir, `${options.out}.md`), markdown)
  console.log(`\n${markdown}`)
  console.log(`Wrote bench/results/${options.out}.json and .md`)
  if (options.cpuProfDir) console.log(`CPU profile of the service in ${path.resolve(options.cpuProfDir)}`)
}

async function main(): Promise<number> {
  let options: BenchOptions
  let selected: Scenario[]
  try {
    options = parseArgs(process.argv.slice(2))
    selected = selectScenarios(options.only)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    console.error(`${err.message}\n\n${usage}`)
    return 2
  }
  if (options.help) {
    console.log(usage)
    return 0
  }

  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'status-tracker-bench-'))
  // Started on first use, stopped with everything else (a BENCH_POSTGRES_URL server is left running).
  let postgres: Promise<PostgresServer> | undefined
  const startPostgresOnce = () => {
    if (!postgres) {
      const external = process.env.BENCH_POSTGRES_URL?.trim() || undefined
      console.log(external ? '> PostgreSQL at BENCH_POSTGRES_URL' : '> scripts/start-postgres.sh')
      postgres = startPostgres(rootDir, external).catch((err: unknown) => {
        throw new SetupError(err instanceof Error ? err.message : String(err))
      })
    }
    return postgres
  }
  const cleanUp = async (graceMs?: number) => {
    await stopAll(graceMs)
    await postgres?.then(
      (server) => server.stop(),
      () => undefined,
    )
    rmSync(tmpDir, { recursive: true, force: true })
  }
  let interrupted = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true
      console.error(`\n${signal}: stopping the servers`)
      // Someone is waiting: a short grace, as the load may still hold keep-alive connections open.
      void cleanUp(2000).finally(() => process.exit(130))
    })
  }
  try {
    await run(options, selected, tmpDir, startPostgresOnce)
    return 0
  } catch (err) {
    // Stopping the servers on a signal makes the running scenario fail; that is not news.
    if (interrupted) return 130
    console.error(
      `\nBenchmark failed: ${err instanceof SetupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    )
    return 1
  } finally {
    await cleanUp()
  }
}

// A section that found the service wrong (the groups recount) has set process.exitCode: that fails the run too.
main().then((code) => process.exit(code || Number(process.exitCode ?? 0)))
