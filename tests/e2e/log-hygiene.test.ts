import { randomBytes } from 'node:crypto'
import { io } from 'socket.io-client'
import { leaksInServerOutput, rememberSecret } from '../helpers/log-scan'
import { logLines, startServerProcess, useTempDatabases } from '../helpers/server-process'
import { until } from '../helpers/wait'
import { startReceiver } from '../helpers/webhook-receiver'

// Every e2e and browser file has its servers' output searched for secrets after its last test
// (tests/helpers/log-scan-setup.ts). This file makes sure that search has failures to read: a server
// at debug, where every request is access-logged, is given each kind of secret on each path that logs.

jest.setTimeout(90_000)

const newDatabase = useTempDatabases()

const call = (baseUrl: string, path: string, init: RequestInit & { key?: string; header?: string } = {}) =>
  fetch(`${baseUrl}${path}`, {
    ...init,
    headers: {
      'Content-Type': 'application/json',
      ...(init.key && { [init.header ?? 'Authorization']: init.header ? init.key : `Bearer ${init.key}` }),
    },
  })

test('when a server at debug is sent keys, a wrong key, tokens and webhook secrets on failing and working paths, then none is in its output', async () => {
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url, LOG_LEVEL: 'debug' })
  const admin = server.adminKey!
  const inbox = await startReceiver(() => 500)
  try {
    await call(server.baseUrl, '/api/status/missing', { key: admin })
    await call(server.baseUrl, '/api/status/missing', { key: admin, header: 'X-API-Key' })
    await call(server.baseUrl, '/api/status', { key: `st_${randomBytes(24).toString('base64url')}` })
    await call(server.baseUrl, `/api/events?token=${rememberSecret(randomBytes(16).toString('hex'))}`, {
      key: admin,
    })
    const chosen = rememberSecret(`chosen-${randomBytes(12).toString('hex')}`)
    const hook = await call(server.baseUrl, '/api/webhooks', {
      key: admin,
      method: 'POST',
      body: JSON.stringify({ url: inbox.url, secret: chosen }),
    })
    expect(hook.status).toBe(201)
    const generated = await call(server.baseUrl, '/api/webhooks', {
      key: admin,
      method: 'POST',
      body: JSON.stringify({ url: inbox.url }),
    })
    expect(((await generated.json()) as { secret: string }).secret).toMatch(/^whsec_/)
    const created = await call(server.baseUrl, '/api/keys', {
      key: admin,
      method: 'POST',
      body: JSON.stringify({ scopes: ['status:write'] }),
    })
    const writer = ((await created.json()) as { key: string }).key
    await call(server.baseUrl, '/api/stats', { key: writer })
    await call(server.baseUrl, '/api/status', { key: writer, method: 'POST', body: '{"status_id":' })
    await call(server.baseUrl, '/api/status', {
      key: writer,
      method: 'POST',
      body: JSON.stringify({ status_id: 'hygiene-1' }),
    })
    // A browser token, in a header on a refused read and in the stream's URL on a refused stream.
    const issued = await call(server.baseUrl, '/api/tokens', {
      key: admin,
      method: 'POST',
      body: JSON.stringify({ status_ids: ['hygiene-1'] }),
    })
    const token = rememberSecret(((await issued.json()) as { token: string }).token)
    expect((await call(server.baseUrl, '/api/status/missing', { key: token })).status).toBe(404)
    expect((await call(server.baseUrl, `/api/events/stream?token=${token}&since_seq=x`)).status).toBe(400)
    // Deliveries that fail are logged too (at debug while retries remain).
    await until(() => inbox.received.length >= 2, 'both webhooks tried a delivery')
    const socket = io(`${server.baseUrl}/status`, { auth: { token: writer }, reconnection: false })
    await new Promise<void>((resolve) =>
      socket.once('connect_error', () => resolve()).once('connect', resolve),
    )
    socket.disconnect()
  } finally {
    await inbox.close()
    await server.kill('SIGTERM')
  }

  const lines = logLines(server.stdout())
  const refused = lines.filter((line) =>
    [401, 403, 404, 400].includes((line.res as { statusCode: number })?.statusCode),
  )
  expect(refused.length).toBeGreaterThanOrEqual(5)
  expect(refused.map((line) => (line.req as { headers: Record<string, string> }).headers)).toContainEqual(
    expect.objectContaining({ 'x-api-key': '[redacted]' }),
  )
  expect(leaksInServerOutput()).toEqual([])
})
