import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { Config } from 'jest'
import jestConfig, { suites, type Suite } from '../jest.config'
import { chromiumPath } from './lib/chromium'
import { mergeCoverage } from './lib/coverage'

const usage = `Usage: tsx scripts/run-status-tests.ts [options] [-- jest args]

  --coverage          collect coverage and enforce the thresholds in jest.config.ts
  --performance       also run the perf suite (left out by default)
  --parallel N        jest --maxWorkers N (default: jest's own)
  --verbose           jest --verbose, and keep the service's logs (LOG_LEVEL is silent otherwise)
  --suite NAME        unit | integration | e2e | chaos | browser | perf; repeatable or comma-separated
                      (default: unit,integration,e2e,chaos,browser)
  --no-postgres       skip the second integration pass against PostgreSQL, and the chaos suite's
                      PostgreSQL tests
  --chaos-trials N    trials per store in the chaos suite (default 4, or CHAOS_TRIALS; CHAOS_SEED
                      replays a run's random choices)
  --fuzz-runs N       runs per property of the fuzz suite (tests/integration/fuzz.test.ts; FUZZ_RUNS,
                      default 15); replay a failure with FUZZ_SEED=<the seed it printed>
  -- ARGS             passed to jest unchanged (e.g. -- -t 'rejects unknown ids')

The selected suites run against SQLite. When the integration suite is selected and PostgreSQL server
binaries are installed (or TEST_POSTGRES_URL names a server), the integration suite then runs again
against a throw-away PostgreSQL started with scripts/start-postgres.sh; with --coverage the thresholds
then apply to both passes' coverage merged.

The browser suite drives headless Chromium (CHROMIUM_PATH, else /usr/bin/chromium); when none is
installed the runner tries scripts/install-chromium.sh, and skips the suite, saying so, if that fails
(under CI=true it fails instead).

Always ends with one line "N passed, N failed[, N skipped]" counting both passes; exits non-zero if a
test failed, jest failed (e.g. a coverage threshold was not met) or no test ran.`

const rootDir = path.resolve(__dirname, '..')
const reportsDir = path.join(rootDir, 'test_reports')
const resultsFile = path.join(reportsDir, 'jest-results.json')
const postgresResultsFile = path.join(reportsDir, 'jest-results-postgresql.json')
const startPostgres = path.join(rootDir, 'scripts', 'start-postgres.sh')
const installChromium = path.join(rootDir, 'scripts', 'install-chromium.sh')

interface Options {
  help: boolean
  coverage: boolean
  performance: boolean
  parallel?: string
  verbose: boolean
  postgres: boolean
  chaosTrials?: string
  fuzzRuns?: string
  suites: Suite[]
  jestArgs: string[]
}

interface JestResults {
  numPassedTests: number
  numFailedTests: number
  numPendingTests: number
  numTodoTests: number
  numTotalTests: number
  numRuntimeErrorTestSuites: number
  success: boolean
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    help: false,
    coverage: false,
    performance: false,
    verbose: false,
    postgres: true,
    suites: [],
    jestArgs: [],
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i])
    const value = (): string => {
      const next = inline ?? argv[++i]
      if (next === undefined || next === '') throw new UsageError(`${flag} needs a value`)
      return next
    }
    switch (flag) {
      case '--':
        options.jestArgs = argv.slice(i + 1)
        i = argv.length
        break
      case '--coverage':
        options.coverage = true
        break
      case '--performance':
        options.performance = true
        break
      case '--verbose':
        options.verbose = true
        break
      case '--no-postgres':
        options.postgres = false
        break
      case '--parallel': {
        const n = value()
        if (!/^[1-9]\d*%?$/.test(n)) throw new UsageError(`--parallel wants a positive number, got "${n}"`)
        options.parallel = n
        break
      }
      case '--chaos-trials': {
        const n = value()
        if (!/^[1-9]\d*$/.test(n)) throw new UsageError(`--chaos-trials wants a positive number, got "${n}"`)
        options.chaosTrials = n
        break
      }
      case '--fuzz-runs': {
        const n = value()
        if (!/^[1-9]\d*$/.test(n)) throw new UsageError(`--fuzz-runs wants a positive number, got "${n}"`)
        options.fuzzRuns = n
        break
      }
      case '--suite':
        for (const name of value().split(',').filter(Boolean)) {
          if (!suites.includes(name as Suite)) {
            throw new UsageError(`unknown suite "${name}" (expected one of ${suites.join(', ')})`)
          }
          if (!options.suites.includes(name as Suite)) options.suites.push(name as Suite)
        }
        break
      case '--help':
      case '-h':
        options.help = true
        break
      default:
        throw new UsageError(`unknown option "${argv[i]}" (jest options go after --)`)
    }
  }
  if (options.suites.length === 0) options.suites = ['unit', 'integration', 'e2e', 'chaos', 'browser']
  if (options.performance && !options.suites.includes('perf')) options.suites.push('perf')
  return options
}

function splitFlag(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=')
  return arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined]
}

function hasTests(suite: Suite): boolean {
  const dir = path.join(rootDir, 'tests', suite)
  return (
    existsSync(dir) &&
    readdirSync(dir, { recursive: true, encoding: 'utf8' }).some((file) => file.endsWith('.test.ts'))
  )
}

// e2e, chaos and browser tests spawn `node dist/src/server.js` (which serves dist/dashboard): they need a fresh build.
function build(): boolean {
  console.log('Building for the e2e, chaos and browser suites: npm run build')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  return spawnSync(npm, ['run', 'build'], { cwd: rootDir, stdio: 'inherit' }).status === 0
}

interface JestRun {
  suites: Suite[]
  coverage: boolean
  resultsFile: string
  env?: NodeJS.ProcessEnv
  /** Overrides of jest.config.ts for this run. */
  config?: Config
}

function runJest(options: Options, run: JestRun): number {
  const args = [
    require.resolve('jest/bin/jest'),
    // Node 20 cannot load jest.config.ts without ts-node; jest accepts the config as JSON instead.
    '--config',
    JSON.stringify({ ...jestConfig, ...run.config }),
    '--selectProjects',
    ...run.suites,
    '--json',
    '--outputFile',
    run.resultsFile,
  ]
  if (run.coverage) args.push('--coverage')
  if (options.verbose) args.push('--verbose')
  if (options.parallel) args.push('--maxWorkers', options.parallel)
  args.push(...options.jestArgs)

  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test', ...run.env }
  if (options.chaosTrials) env.CHAOS_TRIALS = options.chaosTrials
  if (!options.postgres) env.CHAOS_NO_POSTGRES = '1'
  if (!options.verbose) env.LOG_LEVEL ??= 'silent'
  if (options.fuzzRuns) env.FUZZ_RUNS = options.fuzzRuns

  const child = spawnSync(process.execPath, args, { cwd: rootDir, stdio: 'inherit', env })
  if (child.error) console.log(`Could not start jest: ${child.error.message}`)
  if (child.signal) console.log(`jest was killed by ${child.signal}`)
  return child.status ?? 1
}

function readResults(file: string): JestResults | undefined {
  try {
    const results = JSON.parse(readFileSync(file, 'utf8')) as Partial<JestResults>
    // Modes such as --listTests write something else to the output file.
    return typeof results.numTotalTests === 'number' ? (results as JestResults) : undefined
  } catch {
    return undefined
  }
}

function summary(passed: number, failed: number, skipped: number): string {
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`
}

function main(): number {
  let options: Options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    console.error(`${err.message}\n\n${usage}`)
    console.log(summary(0, 0, 0))
    return 2
  }
  if (options.help) {
    console.log(usage)
    return 0
  }

  mkdirSync(reportsDir, { recursive: true })
  rmSync(resultsFile, { force: true })
  rmSync(postgresResultsFile, { force: true })

  if (options.suites.includes('browser') && hasTests('browser') && !chromiumReady()) {
    if (process.env.CI && process.env.CI !== 'false') {
      console.log(
        'Browser suite: no Chromium and scripts/install-chromium.sh could not install it (see above).',
      )
      console.log(summary(0, 0, 0))
      return 1
    }
    console.log(
      'Browser suite: skipped (no Chromium at CHROMIUM_PATH or /usr/bin/chromium, and ' +
        'scripts/install-chromium.sh could not install it; see above)',
    )
    options.suites = options.suites.filter((suite) => suite !== 'browser')
    if (options.suites.length === 0) {
      console.log(summary(0, 0, 0))
      return 0
    }
  }

  const needsBuild = options.suites.some(
    (suite) => (suite === 'e2e' || suite === 'chaos' || suite === 'browser') && hasTests(suite),
  )
  if (needsBuild && !build()) {
    console.log('Build failed, so no tests ran.')
    console.log(summary(0, 0, 0))
    return 1
  }

  // The test environment never inherits a server meant for something else; the second pass sets it.
  const { TEST_POSTGRES_URL: givenServer, ...env } = process.env
  const integration = options.suites.includes('integration') && hasTests('integration')
  const postgresPass =
    integration && options.postgres && Boolean(givenServer || hasPostgresBinaries() || env.PG_BINDIR)
  // With two passes, each writes raw coverage and the thresholds apply to the merge of both.
  const passCoverage = (name: string): Config | undefined =>
    options.coverage && postgresPass
      ? {
          coverageDirectory: path.join(reportsDir, `coverage-${name}`),
          coverageReporters: ['json'],
          coverageThreshold: undefined,
        }
      : undefined
  const sqlite = tally(
    'SQLite',
    runJest(options, {
      suites: options.suites,
      coverage: options.coverage,
      resultsFile,
      env: { TEST_POSTGRES_URL: '' },
      config: passCoverage('sqlite'),
    }),
    resultsFile,
    options,
  )
  let total = sqlite
  if (integration && !options.postgres) console.log('PostgreSQL: skipped (--no-postgres)')
  else if (integration)
    total = combine(total, runOnPostgres(options, givenServer, env, passCoverage('postgresql')))
  if (options.coverage && postgresPass) total = combine(total, mergedCoverage())
  console.log(summary(total.passed, total.failed, total.skipped))
  return total.ok ? 0 : total.exitCode || 1
}

/** The two passes' coverage as one report, checked against jest.config.ts's thresholds. */
function mergedCoverage(): Tally {
  console.log('\nCoverage over both passes:')
  const failures = mergeCoverage({
    rootDir,
    inputs: ['sqlite', 'postgresql'].map((name) =>
      path.join(reportsDir, `coverage-${name}`, 'coverage-final.json'),
    ),
    outputDir: jestConfig.coverageDirectory ?? path.join(reportsDir, 'coverage'),
    reporters: (jestConfig.coverageReporters ?? ['text-summary']).map(
      (r) => (Array.isArray(r) ? r[0] : r) as string,
    ),
    thresholds: jestConfig.coverageThreshold ?? {},
  })
  for (const failure of failures) console.log(`Jest: ${failure}`)
  if (failures.length > 0) console.log('Every test passed but a coverage threshold was not met (see above).')
  return { ...nothing, ok: failures.length === 0, exitCode: failures.length === 0 ? 0 : 1 }
}

interface Tally {
  passed: number
  failed: number
  skipped: number
  ok: boolean
  exitCode: number
}

const combine = (a: Tally, b: Tally): Tally => ({
  passed: a.passed + b.passed,
  failed: a.failed + b.failed,
  skipped: a.skipped + b.skipped,
  ok: a.ok && b.ok,
  exitCode: a.exitCode || b.exitCode,
})

/** Reads one jest run's results and explains a failure that is not a failed test. */
function tally(
  store: string,
  exitCode: number,
  file: string,
  options: Options,
  suites = options.suites,
): Tally {
  const results = readResults(file)
  if (!results) {
    console.log(
      `${store}: jest exited with code ${exitCode} and wrote no results to ${path.relative(rootDir, file)}.`,
    )
    return { passed: 0, failed: 0, skipped: 0, ok: false, exitCode: exitCode || 1 }
  }
  const { numPassedTests: passed, numFailedTests: failed, numRuntimeErrorTestSuites: broken } = results
  const skipped = results.numPendingTests + results.numTodoTests
  let ok = exitCode === 0 && results.success && failed === 0
  if (broken > 0) {
    console.log(`${store}: ${broken} test file(s) failed to run (see the errors above).`)
    ok = false
  }
  if (results.numTotalTests === 0) {
    console.log(`${store}: no tests ran (suites: ${suites.join(', ')}).`)
    ok = false
  } else if (!ok && failed === 0 && broken === 0) {
    const why = options.coverage
      ? 'a coverage threshold was not met (see its report above)'
      : 'see its output above'
    console.log(`${store}: every test passed but jest failed (exit code ${exitCode}): ${why}.`)
  }
  console.log(`${store}: ${summary(passed, failed, skipped)}`)
  return { passed, failed, skipped, ok, exitCode }
}

/** Whether a Chromium is installed, after trying to install Debian's package when none is. */
function chromiumReady(): boolean {
  if (chromiumPath()) return true
  console.log('Browser suite: no Chromium found; trying scripts/install-chromium.sh')
  // stdin is not a terminal, so the script never waits for a sudo password.
  spawnSync(installChromium, [], { stdio: ['ignore', 'inherit', 'inherit'] })
  return chromiumPath() !== undefined
}

const hasPostgresBinaries = () =>
  existsSync('/usr/lib/postgresql') &&
  readdirSync('/usr/lib/postgresql').some((version) =>
    existsSync(path.join('/usr/lib/postgresql', version, 'bin', 'initdb')),
  )

const nothing: Tally = { passed: 0, failed: 0, skipped: 0, ok: true, exitCode: 0 }

/** The integration suite again, against TEST_POSTGRES_URL's server or a throw-away one. */
function runOnPostgres(
  options: Options,
  givenServer: string | undefined,
  env: NodeJS.ProcessEnv,
  config: Config | undefined,
): Tally {
  let url = givenServer
  let stop: (() => void) | undefined
  if (!url) {
    if (!hasPostgresBinaries() && !env.PG_BINDIR) {
      console.log('PostgreSQL: skipped (no server binaries under /usr/lib/postgresql; .ci/run installs them)')
      return nothing
    }
    const started = spawnSync(startPostgres, [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    if (started.status !== 0) {
      console.log('PostgreSQL: could not start a server with scripts/start-postgres.sh (see above)')
      return { ...nothing, ok: false, exitCode: 1 }
    }
    url = started.stdout.trim().split('\n').pop()!
    const startedUrl = url
    stop = () => spawnSync(startPostgres, ['--stop', startedUrl], { stdio: 'inherit' })
  }
  console.log(`\nPostgreSQL: the integration suite again, against ${url}`)
  try {
    const exitCode = runJest(options, {
      suites: ['integration'],
      coverage: config !== undefined,
      resultsFile: postgresResultsFile,
      env: { TEST_POSTGRES_URL: url },
      config,
    })
    return tally('PostgreSQL', exitCode, postgresResultsFile, options, ['integration'])
  } finally {
    stop?.()
  }
}

process.exitCode = main()
