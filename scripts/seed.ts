// Fills the database named by DATABASE_URL (migrated first, created when new) with realistic statuses,
// straight through better-sqlite3 in transactions of 10,000 rows: no events, no API keys.
//   npm run seed -- --count 1000000 [--tenant default] [--seed 1] [--now 2026-11-22T00:00:00Z]
// Ids continue after the tenant's highest `st-NNNNNNNNN`, so a second run adds rows instead of failing.
// The same --seed and --now give the same rows. The rows come from lib/seed-rows.ts.
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../src/config'
import { parseSqliteUrl } from '../src/db/migrate'
import { SEED_BATCH, seedStatuses } from './lib/seed-rows'

const usage = `Usage: npm run seed -- --count N [--tenant T] [--seed S] [--now ISO]

  --count N     statuses to insert (required)
  --tenant T    their tenant, created when missing (default: default)
  --seed S      PRNG seed, for the same rows again (default 1)
  --now ISO     the end of the 30 days the rows are spread over (default: now)

The database is DATABASE_URL (default file:./data/status.db).`

function main(argv: string[]): number {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        count: { type: 'string' },
        tenant: { type: 'string', default: 'default' },
        seed: { type: 'string', default: '1' },
        now: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`)
    return 2
  }
  if (values.help) {
    console.log(usage)
    return 0
  }
  const count = Number(values.count)
  const seed = Number(values.seed)
  const now = values.now === undefined ? Date.now() : Date.parse(values.now)
  const problems = [
    values.count === undefined || !Number.isInteger(count) || count < 1
      ? `--count wants a whole number > 0, got "${values.count ?? ''}"`
      : null,
    !Number.isInteger(seed) ? `--seed wants a whole number, got "${values.seed}"` : null,
    Number.isNaN(now) ? `--now wants an ISO date, got "${values.now}"` : null,
    !/^[A-Za-z0-9_.:-]{1,128}$/.test(values.tenant) ? `--tenant must be 1–128 of A–Z a–z 0–9 _ . : -` : null,
  ].filter((p) => p !== null)
  if (problems.length > 0) {
    console.error(`${problems.join('\n')}\n\n${usage}`)
    return 2
  }
  let file: string
  try {
    file = parseSqliteUrl(loadConfig().DATABASE_URL)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    return 2
  }
  console.log(`seeding ${count.toLocaleString('en-US')} statuses for tenant ${values.tenant} into ${file}`)
  const step = Math.max(SEED_BATCH, Math.ceil(count / 10 / SEED_BATCH) * SEED_BATCH)
  const result = seedStatuses({
    file,
    count,
    tenantId: values.tenant,
    seed,
    now,
    onProgress: (done, total) => {
      if (done % step === 0 || done === total)
        console.log(`  ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`)
    },
  })
  console.log(
    `seeded ${result.inserted.toLocaleString('en-US')} statuses (${result.firstId} … ${result.lastId}) in ` +
      `${(result.ms / 1000).toFixed(1)} s: ${Math.round(result.rowsPerSec).toLocaleString('en-US')} rows/s`,
  )
  return 0
}

if (require.main === module) process.exitCode = main(process.argv.slice(2))
