export const usage = `Usage: npm run bench -- [options]

  --duration S        seconds measured per scenario (default 10)
  --warmup S          seconds of unmeasured load before each scenario (default 2)
  --connections N     concurrent HTTP connections (default 50)
  --only A,B          run only these scenarios (the hello-world ceiling always runs): hello, get,
                      put, create, batch, groups, schema-cost (sqlite only), fanout, latency,
                      filters, overload, peer, instances (postgres only)
  --log-level L       the service's LOG_LEVEL (default info, as shipped)
  --db A[,B]          stores under test: sqlite (default), postgres, or sqlite,postgres for one report
                      with a column per store. postgres starts a throw-away server with
                      scripts/start-postgres.sh (or uses BENCH_POSTGRES_URL, a superuser's URL) and
                      gives each scenario a fresh database on it
  --out NAME          write bench/results/NAME.json and NAME.md (default latest)
  --cpu-prof DIR      run the service under node --cpu-prof and leave the profile in DIR
  --no-build          skip npm run build (dist/ must be current)

  Batch ingest, fan-out and latency (each part is measured for min(--duration, 5) s):
  --batch-connections N  concurrent POST /api/status/batch requests of 1,000 items (default 4)
  --updates N         updates the in-process updater and the raw SQLite ceiling write (default 50000)
  --subscribers A,B   Socket.IO subscriber counts for the fan-out (default 100,1000)
  --fanout-rate R     updates/s into the service during the fan-out (default: the raw Socket.IO
                      ceiling's deliveries/s divided by the subscribers, i.e. the same input rate)
  --latency-rate R    single updates/s for the update→subscriber latency (default 200)

  Schema cost (schema-cost, sqlite only): the raw ceiling over 100,000 statuses once per variant of the
  schema (an index or trigger dropped, a dropped one added back, an empty event payload), --updates
  updates each, so each row's difference from the schema as migrated is what that part costs a write.

  Filters at scale (filters):
  --filter-rows N     statuses seeded into the filters' own database (default 1000000)

  Liveness and logs: heartbeat (bare heartbeats over 100,000 cloned live statuses), logs (10 lines a
  POST), and sweep (sqlite only: --filter-rows statuses seeded, 10,000 of them made due in one UPDATE
  while PUTs run at 1,000/s; how long until all are swept, and PUT p99 before and during).

  Overload (overload): a server of its own with RATE_LIMIT_RPS=200, RATE_LIMIT_BURST=400; a victim
  tenant's GETs at 100/s timed alone, then while another tenant's key floods at 2,000/s (10× its limit),
  evenly spread and in autocannon's bursts.

  Peer (peer): BullMQ on a local redis-server (installed by scripts/install-redis.sh when missing; the
  section is skipped when it cannot be), updateProgress on distinct jobs from 50 concurrent calls with a
  QueueEvents listener, beside our PUT, /batch and in-process writer, as ratios in one table.

  Groups (groups): one parent with 10,000 children and 10,000 statuses without a parent, updated through
  POST /api/status/batch?wait=true alike in alternating rounds (--batch-connections, min(--duration, 5) s
  a round); children's distinct-status updates/s against the others', and the parent's children summary
  against a recount of its children read back through the API.

  Two instances on one PostgreSQL database (instances, postgres only): PUT and batch ingest split over
  two server processes, and update→subscriber latency from one instance to the other.

Exits non-zero only when the benchmark could not be set up or run; missed targets are reported, not enforced.`

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export const DB_KINDS = ['sqlite', 'postgres'] as const
export type DbKind = (typeof DB_KINDS)[number]

export interface BenchOptions {
  help: boolean
  build: boolean
  durationSec: number
  warmupSec: number
  connections: number
  only?: string[]
  logLevel: LogLevel
  /** In the order given; one report either way. */
  db: DbKind[]
  out: string
  cpuProfDir?: string
  batchConnections: number
  updates: number
  subscribers: number[]
  fanoutRate?: number
  latencyRate: number
  filterRows: number
}

export class UsageError extends Error {}

function splitFlag(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=')
  return arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined]
}

function positive(flag: string, raw: string, { integer = false, allowZero = false } = {}): number {
  const n = Number(raw)
  const ok = Number.isFinite(n) && (allowZero ? n >= 0 : n > 0) && (!integer || Number.isInteger(n))
  if (!ok)
    throw new UsageError(
      `${flag} wants a ${integer ? 'whole ' : ''}number > ${allowZero ? '= ' : ''}0, got "${raw}"`,
    )
  return n
}

export function parseArgs(argv: string[]): BenchOptions {
  const options: BenchOptions = {
    help: false,
    build: true,
    durationSec: 10,
    warmupSec: 2,
    connections: 50,
    logLevel: 'info',
    db: ['sqlite'],
    out: 'latest',
    batchConnections: 4,
    updates: 50_000,
    subscribers: [100, 1000],
    latencyRate: 200,
    filterRows: 1_000_000,
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!)
    const value = (): string => {
      const next = inline ?? argv[++i]
      if (next === undefined || next === '') throw new UsageError(`${flag} needs a value`)
      return next
    }
    switch (flag) {
      case '--duration':
        options.durationSec = positive(flag, value())
        break
      case '--warmup':
        options.warmupSec = positive(flag, value(), { allowZero: true })
        break
      case '--connections':
        options.connections = positive(flag, value(), { integer: true })
        break
      case '--only':
        options.only = value().split(',').filter(Boolean)
        break
      case '--log-level': {
        const level = value()
        if (!LOG_LEVELS.includes(level as LogLevel)) {
          throw new UsageError(`--log-level wants one of ${LOG_LEVELS.join(', ')}, got "${level}"`)
        }
        options.logLevel = level as LogLevel
        break
      }
      case '--db': {
        const dbs = value().split(',').filter(Boolean)
        const unknown = dbs.filter((db) => !DB_KINDS.includes(db as DbKind))
        if (unknown.length > 0 || dbs.length === 0)
          throw new UsageError(
            `--db wants sqlite, postgres or both (comma-separated), got "${dbs.join(',')}"`,
          )
        options.db = [...new Set(dbs as DbKind[])]
        break
      }
      case '--out': {
        const out = value()
        if (!/^[\w.-]+$/.test(out)) throw new UsageError(`--out wants a plain file name, got "${out}"`)
        options.out = out
        break
      }
      case '--cpu-prof':
        options.cpuProfDir = value()
        break
      case '--batch-connections':
        options.batchConnections = positive(flag, value(), { integer: true })
        break
      case '--updates':
        options.updates = positive(flag, value(), { integer: true })
        break
      case '--subscribers':
        options.subscribers = value()
          .split(',')
          .filter(Boolean)
          .map((n) => positive(flag, n, { integer: true }))
        if (options.subscribers.length === 0) throw new UsageError(`${flag} needs at least one count`)
        break
      case '--fanout-rate':
        options.fanoutRate = positive(flag, value())
        break
      case '--latency-rate':
        options.latencyRate = positive(flag, value())
        break
      case '--filter-rows':
        options.filterRows = positive(flag, value(), { integer: true })
        break
      case '--no-build':
        options.build = false
        break
      case '--help':
      case '-h':
        options.help = true
        break
      default:
        throw new UsageError(`unknown option "${argv[i]}"`)
    }
  }
  return options
}
