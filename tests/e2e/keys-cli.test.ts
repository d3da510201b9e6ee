import { existsSync } from 'node:fs'
import {
  lastLine,
  runKeysCli,
  startServerProcess,
  type ServerProcess,
  useTempDatabases,
} from '../helpers/server-process'

jest.setTimeout(60_000)

const newDatabase = useTempDatabases()

const get = (server: ServerProcess, path: string, key: string) =>
  fetch(`${server.baseUrl}${path}`, { headers: { Authorization: `Bearer ${key}` } })

/** The id column of the `list` row that mentions `tenant`. */
const idsOf = (listOutput: string, tenant: string) =>
  listOutput
    .split('\n')
    .filter((line) => line.split(/\s+/)[1] === tenant)
    .map((line) => line.split(/\s+/)[0])

test('when a key is created on a new database, then it is printed on the last line and authenticates against a server on that file', async () => {
  const database = newDatabase()
  expect(existsSync(database.file)).toBe(false)

  const created = await runKeysCli(database.url, 'create', '--tenant', 'acme', '--scopes', 'status:read')
  expect(created.code).toBe(0)
  const key = lastLine(created.stdout)
  expect(key).toMatch(/^st_[A-Za-z0-9_-]+$/)
  expect(existsSync(database.file)).toBe(true)

  const server = await startServerProcess({ DATABASE_URL: database.url })
  // The database already holds a key, so the server does not bootstrap an admin key.
  expect(server.adminKey).toBeUndefined()
  expect((await get(server, '/api/status', key)).status).toBe(200)
  const write = await fetch(`${server.baseUrl}/api/status`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ status_id: 'cli-key-write' }),
  })
  expect(write.status).toBe(403)
})

test('when keys are listed, then each shows its id, tenant, scopes, creation time and revocation, without the secret', async () => {
  const { url } = newDatabase()
  const acme = await runKeysCli(url, 'create', '--tenant', 'acme', '--scopes', 'status:read,status:write')
  const globex = await runKeysCli(url, 'create', '--tenant', 'globex', '--scopes', 'admin')
  const acmeKey = lastLine(acme.stdout)

  const all = await runKeysCli(url, 'list')
  expect(all.code).toBe(0)
  expect(all.stdout.split('\n')[0]).toMatch(/^ID\s+TENANT\s+SCOPES\s+CREATED\s+REVOKED$/)
  expect(all.stdout).toMatch(
    /^key_[0-9a-f]{16}\s+acme\s+status:read,status:write\s+\d{4}-\d\d-\d\dT\S+Z\s+-$/m,
  )
  expect(all.stdout).toMatch(/^key_[0-9a-f]{16}\s+globex\s+admin\s+\S+Z\s+-$/m)
  expect(all.stdout).not.toContain(acmeKey)
  expect(all.stdout).not.toContain(lastLine(globex.stdout))

  const onlyAcme = await runKeysCli(url, 'list', '--tenant', 'acme')
  expect(idsOf(onlyAcme.stdout, 'acme')).toHaveLength(1)
  expect(idsOf(onlyAcme.stdout, 'globex')).toHaveLength(0)
})

test('when a key is revoked, then the list shows when, a running server refuses it, and revoking it again fails', async () => {
  const { url } = newDatabase()
  const kept = lastLine(
    (await runKeysCli(url, 'create', '--tenant', 'acme', '--scopes', 'status:read')).stdout,
  )
  const doomed = lastLine(
    (await runKeysCli(url, 'create', '--tenant', 'initech', '--scopes', 'status:read')).stdout,
  )
  const [doomedId] = idsOf((await runKeysCli(url, 'list', '--tenant', 'initech')).stdout, 'initech')
  const server = await startServerProcess({ DATABASE_URL: url })

  const revoked = await runKeysCli(url, 'revoke', doomedId!)
  expect(revoked.code).toBe(0)
  expect(revoked.stdout).toContain(doomedId)

  const listed = await runKeysCli(url, 'list')
  expect(listed.stdout).toMatch(
    new RegExp(`^${doomedId}\\s+initech\\s+status:read\\s+\\S+Z\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z$`, 'm'),
  )
  expect(listed.stdout).toMatch(/^key_[0-9a-f]{16}\s+acme\s+status:read\s+\S+Z\s+-$/m)
  // The server never saw this key before its revocation, so no cached verification hides it.
  expect((await get(server, '/api/status', doomed)).status).toBe(401)
  expect((await get(server, '/api/status', kept)).status).toBe(200)

  const again = await runKeysCli(url, 'revoke', doomedId!)
  expect(again.code).toBe(1)
  expect(again.stderr).toContain(doomedId)
})

test('when revoke names no key, then it exits non-zero with a message', async () => {
  const result = await runKeysCli(newDatabase().url, 'revoke', 'key_0000000000000000')

  expect(result.code).toBe(1)
  expect(result.stderr).toContain('key_0000000000000000')
})

test.each([
  [['create', '--tenant', 'acme', '--scopes', 'status:read,status:delete']],
  [['create', '--tenant', 'acme']],
  [['create', '--scopes', 'status:read']],
  [['create', '--tenant', 'acme corp', '--scopes', 'status:read']],
  [['create', '--tenant', 'acme', '--scopes', ',']],
  [['revoke']],
  [['list', '--frobnicate']],
  [['rotate']],
  [[]],
])(
  'when the arguments are %j, then usage goes to stderr with exit 2 and nothing is created',
  async (args) => {
    const database = newDatabase()

    const result = await runKeysCli(database.url, ...args)

    expect(result.code).toBe(2)
    expect(result.stderr).toContain('Usage: npm run keys')
    expect(result.stdout).not.toMatch(/st_/)
    expect(existsSync(database.file)).toBe(false)
  },
)
