// Mutation testing with StrykerJS: `npm run mutation`. By default it mutates the pure domain rules and the
// small pure services (the cursor codec, the coalesced task, the outbox reader) and runs the unit suite
// against each mutant, so a surviving mutant is a change to the rules that no unit test notices. Reports:
// test_reports/mutation/ (index.html and mutation.json). Not part of `npm test`: on two cores it takes
// minutes.
//
//   npm run mutation [-- --mutate src/domain/status-rules.ts]
//   npm run mutation -- --project integration --tests tests/integration/event-manager.test.ts \
//     --mutate src/services/sink-leases.ts
//
// --project picks another jest project of jest.config.ts (unit or integration; the e2e, chaos and browser
// suites run the built server in a subprocess, which never loads a mutated file). --tests (repeatable)
// keeps the run to the files that cover the mutated module: the writer and the event pipeline are covered
// by a handful of integration files, and the whole integration suite per mutant is far too slow on two
// cores. Outside the unit project --mutate is required, since the default set is the unit suite's. The
// integration tests run on SQLite only, each in a temp file of its own (tests/helpers/test-database.ts),
// so the sandbox needs no server. Each mutant runs only the tests that cover it (coverageAnalysis
// perTest). A mutant that stops delivery makes a test wait for what never comes, so many are killed by
// Stryker's timeout, which is what makes these runs slow. Last runs, two cores:
//
//   sink-leases.ts           100 %   --tests tests/integration/event-manager.test.ts               3 min
//   live-hub.ts              100 %   the same, plus socket-server, sse and client-subscription      25 min
//   status-event-manager.ts  90.8 %  --tests tests/integration/event-manager.test.ts               9 min
//   status-updater.ts        95.4 %  --tests tests/integration/status-updater.test.ts             18 min
//
// The jest config is the chosen project of jest.config.ts, written out as JSON beside the project (jest
// cannot load the TypeScript config by itself), with paths relative to the project so that Stryker's
// sandbox copy runs its own mutated files.
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import jestConfig from '../jest.config'

const rootDir = path.resolve(__dirname, '..')
const CONFIG_FILE = '.stryker-jest.config.json'
const STRYKER_FILE = '.stryker.config.json'

/** What is mutated by default: logic the unit suite is meant to pin down completely. */
const MUTATE = [
  'src/domain/**/*.ts',
  'src/services/cursor-codec.ts',
  'src/services/coalesced-task.ts',
  'src/services/outbox-reader.ts',
]

/** The projects whose tests load src/ in the jest process, where Stryker can switch mutants on. */
const PROJECTS = ['unit', 'integration']

class UsageError extends Error {}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mutate: { type: 'string', multiple: true },
      project: { type: 'string', default: 'unit' },
      tests: { type: 'string', multiple: true },
    },
  })
  if (!PROJECTS.includes(values.project)) {
    throw new UsageError(`--project must be one of ${PROJECTS.join(', ')}, got "${values.project}"`)
  }
  if (values.project !== 'unit' && !values.mutate) {
    throw new UsageError(`--project ${values.project} needs --mutate: the default set is the unit suite's`)
  }
  const tests = (values.tests ?? []).map((file) => path.relative(rootDir, path.resolve(file)))
  const missing = tests.filter((file) => !existsSync(path.join(rootDir, file)))
  if (missing.length > 0) throw new UsageError(`no such test file: ${missing.join(', ')}`)

  const project = (jestConfig.projects ?? []).find(
    (p): p is Exclude<typeof p, string> => typeof p !== 'string' && p.displayName === values.project,
  )
  if (!project) throw new Error(`jest.config.ts has no ${values.project} project`)
  const relative = (p: string) => p.replace(rootDir, '<rootDir>')
  const roots = (project.roots ?? []) as string[]
  writeFileSync(
    path.join(rootDir, CONFIG_FILE),
    JSON.stringify({
      ...project,
      displayName: undefined,
      rootDir: '.',
      roots: roots.map(relative),
      // Only the named files: each still runs only its tests that cover the mutant.
      ...(tests.length > 0 && { testMatch: tests.map((file) => `<rootDir>/${file}`) }),
    }),
  )
  // Stryker is an ES module: it runs as its own CLI on the options written here.
  const options = {
    testRunner: 'jest',
    jest: { projectType: 'custom', configFile: CONFIG_FILE, enableFindRelatedTests: false },
    plugins: ['@stryker-mutator/jest-runner'],
    mutate: values.mutate ?? MUTATE,
    coverageAnalysis: 'perTest',
    concurrency: 2,
    tempDirName: '.stryker-tmp',
    ignorePatterns: ['dist', 'coverage', 'test_reports', 'bench', 'data', 'dashboard/dist'],
    reporters: ['clear-text', 'progress', 'html', 'json'],
    htmlReporter: { fileName: 'test_reports/mutation/index.html' },
    jsonReporter: { fileName: 'test_reports/mutation/mutation.json' },
    thresholds: { high: 85, low: 70, break: null },
  }
  writeFileSync(path.join(rootDir, STRYKER_FILE), JSON.stringify(options, null, 2))
  // The environment scripts/run-status-tests.ts gives jest: the integration tests' SQLite pass (never a
  // PostgreSQL server this shell happens to name) and silent service logs.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'test',
    TEST_POSTGRES_URL: '',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
  }
  const run = spawnSync(path.join(rootDir, 'node_modules', '.bin', 'stryker'), ['run', STRYKER_FILE], {
    cwd: rootDir,
    stdio: 'inherit',
    env,
  })
  return run.status ?? 1
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`)
      process.exitCode = 2
      return
    }
    process.stderr.write(
      `mutation testing failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    process.exitCode = 1
  },
)
