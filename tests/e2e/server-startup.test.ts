import { readdirSync, readlinkSync } from 'node:fs'
import Database from 'better-sqlite3'
import {
  exitedWithin,
  logLines,
  runServerToExit,
  spawnServerProcess,
  startServerProcess,
  useTempDatabases,
} from '../helpers/server-process'
import { until } from '../helpers/wait'

// Two start-ups and a shutdown, on a machine the other suites keep busy.
jest.setTimeout(120_000)

const newDatabase = useTempDatabases()

test('when the server first starts on an empty database, then it prints an admin key once and that key works', async () => {
  const { url } = newDatabase()

  const first = await startServerProcess({ DATABASE_URL: url })
  const adminKey = first.adminKey
  expect(adminKey).toMatch(/^st_/)
  expect((await first.kill('SIGTERM')).code).toBe(0)

  const second = await startServerProcess({ DATABASE_URL: url })
  expect(second.adminKey).toBeUndefined()
  expect(second.stdout()).not.toContain(adminKey)

  const authorized = await fetch(`${second.baseUrl}/api/keys`, {
    headers: { Authorization: `Bearer ${adminKey}` },
    signal: AbortSignal.timeout(20_000),
  })
  expect(authorized.status).toBe(200)
  const body = (await authorized.json()) as { items: { tenant_id: string; scopes: string[] }[] }
  expect(body.items).toEqual([expect.objectContaining({ tenant_id: 'default', scopes: ['admin'] })])
})

test('when SIGTERM arrives while the server is still starting, then it finishes starting, shuts down and exits 0', async () => {
  const { url, file } = newDatabase()
  // Another connection holds the file locked, so start-up waits inside its migrations.
  const lock = new Database(file)
  lock.exec('BEGIN EXCLUSIVE')
  const server = spawnServerProcess({ DATABASE_URL: url })
  const fds = `/proc/${server.child.pid}/fd`
  const hasOpened = () =>
    readdirSync(fds).some((fd) => {
      try {
        return readlinkSync(`${fds}/${fd}`) === file
      } catch {
        return false // closed in the meantime
      }
    })
  // It opens the file only once its signal handlers are in place.
  await until(hasOpened, 'the server has opened the database file', 20_000)

  server.child.kill('SIGTERM')
  lock.exec('ROLLBACK')
  lock.close()

  expect(await exitedWithin(server)).toEqual({ code: 0, signal: null })
  const messages = logLines(server.stdout()).map((line) => line.msg)
  expect(messages).toEqual(
    expect.arrayContaining([expect.stringMatching(/^listening on/), 'shutting down', 'stopped']),
  )
})

test('when a request over real HTTP carries no key or a wrong one, then it is refused with 401 problem+json', async () => {
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url })

  const anonymous = await fetch(`${server.baseUrl}/api/status`)
  const wrong = await fetch(`${server.baseUrl}/api/status`, { headers: { 'X-API-Key': 'st_not-a-real-key' } })

  for (const response of [anonymous, wrong]) {
    expect(response.status).toBe(401)
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(((await response.json()) as { type: string }).type).toBe('/problems/unauthenticated')
  }
})

test('when the server is up, then /health and /ready answer 200 without a key', async () => {
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url })

  expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200)
  expect((await fetch(`${server.baseUrl}/ready`)).status).toBe(200)
})

test.each([
  ['PORT', 'abc'],
  ['LOG_LEVEL', 'loud'],
  ['RATE_LIMIT_BURST', '10'],
])(
  'when %s is %p, then the server exits non-zero with a message naming the variable',
  async (name, value) => {
    const result = await runServerToExit({ DATABASE_URL: newDatabase().url, [name]: value })

    expect(result.code).not.toBe(0)
    expect(result.code).not.toBeNull()
    expect(result.stderr).toContain(name)
    expect(result.stdout).not.toContain('listening on')
  },
)
