// The packed package, installed into a project of its own: its `status-tracker` command runs, and
// `status-tracker/client` imports with its types, loading nothing of the server.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { clientOf, closeClients } from '../helpers/api-client'
import { projectRoot, runToCompletion, startServerProcess, useTempDatabases } from '../helpers/server-process'

jest.setTimeout(240_000)

const newDatabase = useTempDatabases()
afterEach(closeClients)

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
let dir: string
let app: string

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-package-'))
  app = path.join(dir, 'app')
  mkdirSync(app)
  // The suite has just built dist/; the pack takes it as it is (prepack would build it again).
  execFileSync(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: projectRoot })
  const [tarball] = readdirSync(dir).filter((f) => f.endsWith('.tgz'))
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
  )
  // Its dependencies come from npm's cache (the project's own install filled it); the server's native
  // modules are not built, since neither the command nor the client loads them.
  execFileSync(
    npm,
    ['install', path.join(dir, tarball!), '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'],
    { cwd: app, stdio: 'ignore' },
  )
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

test('when the packed package is installed, then its status-tracker command reads a status from a server', async () => {
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url })
  await clientOf(server, server.adminKey!).statuses.create({ status_id: 'from-the-package', kind: 'pack' })
  const bin = path.join(app, 'node_modules', '.bin', 'status-tracker')
  const env = { STATUS_TRACKER_URL: server.baseUrl, STATUS_TRACKER_TOKEN: server.adminKey! }

  // What the command loaded, written as it exits: nothing of the server, Prisma or Express.
  writeFileSync(
    path.join(app, 'trace.js'),
    `process.on('exit', () => process.stderr.write('loaded ' + JSON.stringify(Object.keys(require.cache).filter((file) =>
  /node_modules\\/(@prisma|prisma|express|better-sqlite3|pg|pino)\\/|status-tracker\\/dist\\/src\\/(?!client\\/|cli\\/)/.test(file))) + '\\n'))
`,
  )
  const traced = await runToCompletion(bin, ['list', '--json'], {
    ...env,
    NODE_OPTIONS: `--require ${path.join(app, 'trace.js')}`,
  })
  expect(traced.code).toBe(0)
  expect(traced.stderr).toBe('loaded []\n')

  const help = await runToCompletion(bin, ['--help'], env)
  expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: status-tracker COMMAND') })
  const got = await runToCompletion(bin, ['get', 'from-the-package', '--json'], env)
  expect(got.code).toBe(0)
  expect(JSON.parse(got.stdout)).toMatchObject({ status_id: 'from-the-package', kind: 'pack' })
})

test('when status-tracker/client is required from the installed package, then it works and loads no server module', async () => {
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url })
  await clientOf(server, server.adminKey!).statuses.create({ status_id: 'seen-by-the-client' })
  writeFileSync(
    path.join(app, 'read.js'),
    `const { createStatusTrackerClient } = require('status-tracker/client')
const client = createStatusTrackerClient({ baseUrl: process.env.URL, apiKey: process.env.KEY })
client.statuses.get('seen-by-the-client').then((record) => {
  const loaded = Object.keys(require.cache).filter((file) =>
    /node_modules\\/(@prisma|prisma|express|better-sqlite3|pg|pino)\\/|status-tracker\\/dist\\/src\\/(?!client\\/)/.test(file))
  console.log(JSON.stringify({ status: record.status, loaded }))
})
`,
  )
  const read = await runToCompletion(process.execPath, [path.join(app, 'read.js')], {
    URL: server.baseUrl,
    KEY: server.adminKey!,
  })
  expect(read.stderr).toBe('')
  expect(JSON.parse(read.stdout)).toEqual({ status: 'pending', loaded: [] })
})

test('when TypeScript checks code against status-tracker/client, then the types are the wire types', async () => {
  writeFileSync(
    path.join(app, 'check.ts'),
    `import { createStatusTrackerClient, type StatusRecord } from 'status-tracker/client'
const client = createStatusTrackerClient({ baseUrl: 'http://localhost:3000' })
export const read = (id: string): Promise<StatusRecord> => client.statuses.get(id)
export const state: StatusRecord['status'] = 'processing'
// @ts-expect-error a status is one of its states
export const wrong: StatusRecord['status'] = 'exploded'
// @ts-expect-error progress is a number
export const progress: StatusRecord['progress_percentage'] = '50'
`,
  )
  writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'node16',
        moduleResolution: 'node16',
        target: 'ES2022',
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      files: ['check.ts'],
    }),
  )
  const tsc = path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  const checked = await runToCompletion(process.execPath, [tsc, '-p', app], {}, 120_000)
  expect({ code: checked.code, output: checked.stdout }).toEqual({ code: 0, output: '' })
})
