import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import jestConfig, { suites, type Suite } from '../jest.config'

const usage = `Usage: tsx scripts/run-status-tests.ts [options] [-- jest args]

  --coverage          collect coverage and enforce the thresholds in jest.config.ts
  --performance       also run the perf suite (left out by default)
  --parallel N        jest --maxWorkers N (default: jest's own)
  --verbose           jest --verbose, and keep the service's logs (LOG_LEVEL is silent otherwise)
  --suite NAME        unit | integration | e2e | perf; repeatable or comma-separated
                      (default: unit,integration,e2e)
  -- ARGS             passed to jest unchanged (e.g. -- -t 'rejects unknown ids')

Always ends with one line "N passed, N failed[, N skipped]"; exits non-zero if a test failed,
jest failed (e.g. a coverage threshold was not met) or no test ran.`

const rootDir = path.resolve(__dirname, '..')
const reportsDir = path.join(rootDir, 'test_reports')
const resultsFile = path.join(reportsDir, 'jest-results.json')

interface Options {
  help: boolean
  coverage: boolean
  performance: boolean
  parallel?: string
  verbose: boolean
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
      case '--parallel': {
        const n = value()
        if (!/^[1-9]\d*%?$/.test(n)) throw new UsageError(`--parallel wants a positive number, got "${n}"`)
        options.parallel = n
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
  if (options.suites.length === 0) options.suites = ['unit', 'integration', 'e2e']
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

// e2e tests spawn `node dist/src/server.js`, so they need a fresh build.
function build(): boolean {
  console.log('Building for the e2e suite: npm run build')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  return spawnSync(npm, ['run', 'build'], { cwd: rootDir, stdio: 'inherit' }).status === 0
}

function runJest(options: Options): number {
  const args = [
    require.resolve('jest/bin/jest'),
    // Node 20 cannot load jest.config.ts without ts-node; jest accepts the config as JSON instead.
    '--config',
    JSON.stringify(jestConfig),
    '--selectProjects',
    ...options.suites,
    '--json',
    '--outputFile',
    resultsFile,
  ]
  if (options.coverage) args.push('--coverage')
  if (options.verbose) args.push('--verbose')
  if (options.parallel) args.push('--maxWorkers', options.parallel)
  args.push(...options.jestArgs)

  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' }
  if (!options.verbose) env.LOG_LEVEL ??= 'silent'

  const child = spawnSync(process.execPath, args, { cwd: rootDir, stdio: 'inherit', env })
  if (child.error) console.log(`Could not start jest: ${child.error.message}`)
  if (child.signal) console.log(`jest was killed by ${child.signal}`)
  return child.status ?? 1
}

function readResults(): JestResults | undefined {
  try {
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as Partial<JestResults>
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

  if (options.suites.includes('e2e') && hasTests('e2e') && !build()) {
    console.log('Build failed, so no tests ran.')
    console.log(summary(0, 0, 0))
    return 1
  }

  const exitCode = runJest(options)
  const results = readResults()
  if (!results) {
    console.log(
      `jest exited with code ${exitCode} and wrote no results to ${path.relative(rootDir, resultsFile)}.`,
    )
    console.log(summary(0, 0, 0))
    return exitCode || 1
  }

  const { numPassedTests: passed, numFailedTests: failed, numRuntimeErrorTestSuites: broken } = results
  const skipped = results.numPendingTests + results.numTodoTests
  let ok = exitCode === 0 && results.success && failed === 0
  if (broken > 0) {
    console.log(`${broken} test file(s) failed to run (see the errors above).`)
    ok = false
  }
  if (results.numTotalTests === 0) {
    console.log(`No tests ran (suites: ${options.suites.join(', ')}).`)
    ok = false
  } else if (!ok && failed === 0 && broken === 0) {
    const why = options.coverage
      ? 'a coverage threshold was not met (see its report above)'
      : 'see its output above'
    console.log(`Every test passed but jest failed (exit code ${exitCode}): ${why}.`)
  }
  console.log(summary(passed, failed, skipped))
  return ok ? 0 : exitCode || 1
}

process.exitCode = main()
