import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import type { Config } from 'jest'

type Project = Exclude<NonNullable<Config['projects']>[number], string>
type Threshold = NonNullable<Config['coverageThreshold']>['global']

// Node 20 cannot load a TypeScript jest config by itself (jest wants ts-node for that, which this project
// does not install): scripts/run-status-tests.ts imports this file through tsx and hands jest the result
// as JSON. Run tests through `npm test` or `npx tsx scripts/run-status-tests.ts`, not bare `npx jest`.

const rootDir = __dirname
const reports = path.join(rootDir, 'test_reports')

// The generated Prisma client loads its wasm with `await import()`; under ts-jest that must become
// `require()`, or jest demands --experimental-vm-modules. The app's own tsc build keeps node16 modules.
const transform: Config['transform'] = {
  '^.+\\.ts$': [
    'ts-jest',
    { tsconfig: { module: 'commonjs', moduleResolution: 'node10', isolatedModules: true } },
  ],
}

export const suites = ['unit', 'integration', 'e2e', 'browser', 'perf'] as const
export type Suite = (typeof suites)[number]
const serverSuites = new Set<Suite>(['e2e', 'browser'])

// src is a root of every project so coverage also reports source files no test loads (jest only finds
// untested files inside `roots`); testMatch keeps each project to its own folder. A suite folder that does
// not exist yet is left out of roots, because jest rejects missing roots: the project then finds no tests.
function project(name: Suite): Project {
  const testDir = path.join(rootDir, 'tests', name)
  return {
    displayName: name,
    rootDir,
    roots: [path.join(rootDir, 'src'), testDir].filter((dir) => existsSync(dir)),
    testMatch: [`<rootDir>/tests/${name}/**/*.test.ts`],
    testEnvironment: 'node',
    transform,
    moduleFileExtensions: ['ts', 'js', 'json'],
    // The suites that start real servers search their output for secrets after each file.
    ...(serverSuites.has(name) && { setupFilesAfterEnv: ['<rootDir>/tests/helpers/log-scan-setup.ts'] }),
  }
}

function hasSourceFiles(target: string): boolean {
  if (!existsSync(target)) return false
  if (target.endsWith('.ts')) return true
  return readdirSync(target, { recursive: true, encoding: 'utf8' }).some(
    (file) => file.endsWith('.ts') && !file.split(path.sep).some((part) => part.startsWith('generated')),
  )
}

// Branches sit below the other metrics: defensive branches (shutdown races, driver errors) are costly to
// reach and a high branch floor invites tests written for the number.
const floor = { lines: 80, statements: 80, functions: 80, branches: 70 }

// Files under a per-path key drop out of "global", so each key restates the floor for the metrics it does
// not raise. Jest also fails the run ("Coverage data for ./src/x.ts was not found") when a key names
// nothing, so a key applies only once its file or folder has source in it.
const pathThresholds: Record<string, Threshold> = {
  './src/services/status-service.ts': { ...floor, lines: 95, statements: 95 },
  './src/services/status-updater.ts': { ...floor, lines: 95, statements: 95 },
  './src/services/status-event-manager.ts': { ...floor, lines: 95, statements: 95 },
  './src/http/': { lines: 90, statements: 90, functions: 90, branches: 80 },
  './src/db/': { lines: 85, statements: 85, functions: 85, branches: 75 },
}

const config: Config = {
  rootDir,
  projects: suites.map(project),
  collectCoverageFrom: [
    'src/**/*.ts',
    '!src/db/generated/**',
    '!src/db/generated-postgresql/**',
    '!src/server.ts',
  ],
  coverageDirectory: path.join(reports, 'coverage'),
  coverageReporters: ['text-summary', 'lcov', 'cobertura', 'json-summary'],
  coverageThreshold: {
    global: floor,
    ...Object.fromEntries(
      Object.entries(pathThresholds).filter(([target]) => hasSourceFiles(path.join(rootDir, target))),
    ),
  },
  reporters: [
    'default',
    [
      'jest-junit',
      {
        outputDirectory: reports,
        outputName: 'junit.xml',
        suiteNameTemplate: '{displayName} {filepath}',
        classNameTemplate: '{classname}',
        titleTemplate: '{title}',
        ancestorSeparator: ' › ',
        addFileAttribute: 'true',
      },
    ],
  ],
}

export default config
