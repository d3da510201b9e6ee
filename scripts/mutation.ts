// Mutation testing with StrykerJS: `npm run mutation`. It mutates the pure domain rules and the small
// pure services (the cursor codec, the coalesced task) and runs the unit suite against each mutant, so a
// surviving mutant is a change to the rules that no unit test notices. Reports: test_reports/mutation/
// (index.html and mutation.json). Not part of `npm test`: on two cores it takes minutes.
//
//   npm run mutation [-- --mutate src/domain/status-rules.ts]
//
// The jest config is the unit project of jest.config.ts, written out as JSON beside the project (jest
// cannot load the TypeScript config by itself), with paths relative to the project so that Stryker's
// sandbox copy runs its own mutated files.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
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

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { mutate: { type: 'string', multiple: true } } })
  const unit = (jestConfig.projects ?? []).find(
    (p): p is Exclude<typeof p, string> => typeof p !== 'string' && p.displayName === 'unit',
  )
  if (!unit) throw new Error('jest.config.ts has no unit project')
  const relative = (p: string) => p.replace(rootDir, '<rootDir>')
  const roots = (unit.roots ?? []) as string[]
  writeFileSync(
    path.join(rootDir, CONFIG_FILE),
    JSON.stringify({ ...unit, displayName: undefined, rootDir: '.', roots: roots.map(relative) }),
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
  const run = spawnSync(path.join(rootDir, 'node_modules', '.bin', 'stryker'), ['run', STRYKER_FILE], {
    cwd: rootDir,
    stdio: 'inherit',
  })
  return run.status ?? 1
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(
      `mutation testing failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    process.exitCode = 1
  },
)
