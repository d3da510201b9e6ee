import http from 'node:http'
import { makeStatus } from '../helpers/factories'
import {
  exitedWithin,
  startServerProcess,
  waitForLog,
  useTempDatabases,
  startSlowPost,
} from '../helpers/server-process'

jest.setTimeout(60_000)

const newDatabase = useTempDatabases()

const json = (key: string, method: string, body?: unknown): RequestInit => ({
  method,
  headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
})

test('when the process is SIGKILLed right after a 200 on PUT, then the update is there after a restart', async () => {
  const { url } = newDatabase()
  const first = await startServerProcess({ DATABASE_URL: url })
  const key = first.adminKey!
  const { status_id: id } = makeStatus()
  expect((await fetch(`${first.baseUrl}/api/status`, json(key, 'POST', { status_id: id }))).status).toBe(201)

  const put = await fetch(
    `${first.baseUrl}/api/status/${id}`,
    json(key, 'PUT', {
      new_status: 'processing',
      progress_percentage: 37,
      message: 'written before the crash',
    }),
  )
  expect(put.status).toBe(200)
  const killed = await first.kill('SIGKILL')
  expect(killed.signal).toBe('SIGKILL')

  const second = await startServerProcess({ DATABASE_URL: url })
  const read = await fetch(`${second.baseUrl}/api/status/${id}`, json(key, 'GET'))
  expect(read.status).toBe(200)
  expect(await read.json()).toMatchObject({
    status: 'processing',
    progress_percentage: 37,
    message: 'written before the crash',
    version: 2,
  })
})

test('when SIGTERM arrives during a request, then new connections are refused, the request completes and the process exits 0', async () => {
  const { url } = newDatabase()
  const server = await startServerProcess({ DATABASE_URL: url })
  const key = server.adminKey!
  const input = makeStatus()
  const slow = startSlowPost(server.port, key, '/api/status', input)
  await slow.inFlight

  server.child.kill('SIGTERM')
  await waitForLog(server, 'shutting down')
  await expect(fetch(`${server.baseUrl}/health`)).rejects.toThrow()
  slow.finish()

  const answer = await slow.response
  expect(answer.status).toBe(201)
  expect(JSON.parse(answer.body)).toMatchObject({ status_id: input.status_id, version: 1 })
  const exit = await exitedWithin(server)
  expect(exit).toEqual({ code: 0, signal: null })
  expect(server.stdout()).toContain('"msg":"stopped"')

  const restarted = await startServerProcess({ DATABASE_URL: url })
  const read = await fetch(`${restarted.baseUrl}/api/status/${input.status_id}`, json(key, 'GET'))
  expect(read.status).toBe(200)
})

test('when SIGTERM arrives while an idle keep-alive connection is open, then it is closed and the process exits 0 within the grace period', async () => {
  // Shorter than Node's 5 s keep-alive timeout: waiting for the idle connection to time out would overrun it.
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url, SHUTDOWN_GRACE_MS: '3000' })
  const agent = new http.Agent({ keepAlive: true })
  await new Promise<void>((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port: server.port, path: '/health', agent }, (res) =>
        res.resume().once('end', resolve),
      )
      .once('error', reject),
  )

  const exit = await server.kill('SIGTERM')
  agent.destroy()

  expect(exit).toEqual({ code: 0, signal: null })
  expect(server.stdout()).not.toContain('shutdown grace period over')
})
