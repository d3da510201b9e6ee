import { makeStatus } from '../helpers/factories'
import {
  exitedWithin,
  startServerProcess,
  waitForLog,
  type ServerProcess,
  useTempDatabases,
  startSlowPost,
} from '../helpers/server-process'

jest.setTimeout(60_000)

// A flush delay of a minute: whatever is written before the process exits was flushed by the shutdown.
const NEVER_ON_TIME = { UPDATER_FLUSH_MS: '60000' }

const newDatabase = useTempDatabases()

const json = (key: string, method: string, body?: unknown): RequestInit => ({
  method,
  headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
})

async function createProcessing(server: ServerProcess, key: string, count: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const { status_id } = makeStatus()
    const res = await fetch(
      `${server.baseUrl}/api/status`,
      json(key, 'POST', { status_id, status: 'processing' }),
    )
    expect(res.status).toBe(201)
    ids.push(status_id!)
  }
  return ids
}

async function queueDepth(server: ServerProcess, key: string): Promise<number> {
  const res = await fetch(`${server.baseUrl}/api/stats`, json(key, 'GET'))
  expect(res.status).toBe(200)
  return ((await res.json()) as { queue_depth: number }).queue_depth
}

async function untilQueued(server: ServerProcess, key: string, depth: number): Promise<void> {
  while ((await queueDepth(server, key)) < depth) await new Promise((resolve) => setTimeout(resolve, 20))
}

async function readStatus(server: ServerProcess, key: string, id: string) {
  const res = await fetch(`${server.baseUrl}/api/status/${id}`, json(key, 'GET'))
  expect(res.status).toBe(200)
  return (await res.json()) as Record<string, unknown>
}

test('when SIGTERM arrives with accepted batch items still queued, then they are flushed before the process exits 0 and are there after a restart', async () => {
  const { url } = newDatabase()
  const first = await startServerProcess({ DATABASE_URL: url, ...NEVER_ON_TIME })
  const key = first.adminKey!
  const [a, b] = await createProcessing(first, key, 2)

  const accepted = await fetch(
    `${first.baseUrl}/api/status/batch`,
    json(key, 'POST', {
      updates: [
        { status_id: a, progress_percentage: 64, message: 'flushed by SIGTERM' },
        { status_id: b, new_status: 'completed' },
      ],
    }),
  )
  expect(accepted.status).toBe(202)
  expect(await accepted.json()).toEqual({ accepted: 2, rejected: [] })
  expect(await queueDepth(first, key)).toBe(2)
  expect(await readStatus(first, key, a!)).toMatchObject({ progress_percentage: 0, version: 1 })

  const exit = await first.kill('SIGTERM')

  expect(exit).toEqual({ code: 0, signal: null })
  expect(first.stdout()).toContain('"msg":"stopped"')
  const second = await startServerProcess({ DATABASE_URL: url, ...NEVER_ON_TIME })
  expect(await readStatus(second, key, a!)).toMatchObject({
    progress_percentage: 64,
    message: 'flushed by SIGTERM',
    version: 2,
  })
  expect(await readStatus(second, key, b!)).toMatchObject({ status: 'completed', version: 2 })
  const history = await fetch(`${second.baseUrl}/api/status/${a}/history`, json(key, 'GET'))
  expect(((await history.json()) as { items: { version: number }[] }).items.map((e) => e.version)).toEqual([
    1, 2,
  ])
})

test('when SIGTERM arrives while a ?wait=true batch waits for its commit, then that request still gets its 200 with results and the process exits 0', async () => {
  const { url } = newDatabase()
  const server = await startServerProcess({ DATABASE_URL: url, ...NEVER_ON_TIME })
  const key = server.adminKey!
  const [id] = await createProcessing(server, key, 1)
  const waiting = fetch(
    `${server.baseUrl}/api/status/batch?wait=true`,
    json(key, 'POST', {
      updates: [{ status_id: id, progress_percentage: 90, message: 'committed on stop' }],
    }),
  )
  await untilQueued(server, key, 1)

  server.child.kill('SIGTERM')
  const answer = await waiting

  expect(answer.status).toBe(200)
  expect(await answer.json()).toEqual({
    accepted: 1,
    rejected: [],
    results: [{ index: 0, status_id: id, result: 'applied', version: 2 }],
  })
  expect(await exitedWithin(server)).toEqual({ code: 0, signal: null })
  const restarted = await startServerProcess({ DATABASE_URL: url, ...NEVER_ON_TIME })
  expect(await readStatus(restarted, key, id!)).toMatchObject({
    progress_percentage: 90,
    message: 'committed on stop',
    version: 2,
  })
})

test('when SIGTERM arrives while a ?wait=true batch is still being received, then it is applied and answered 200 and the process exits 0', async () => {
  const { url } = newDatabase()
  const server = await startServerProcess({ DATABASE_URL: url, ...NEVER_ON_TIME })
  const key = server.adminKey!
  const [id] = await createProcessing(server, key, 1)
  const slow = startSlowPost(server.port, key, '/api/status/batch?wait=true', {
    updates: [{ status_id: id, message: 'sent during shutdown' }],
  })
  await slow.inFlight

  server.child.kill('SIGTERM')
  await waitForLog(server, 'shutting down')
  slow.finish()
  const answer = await slow.response

  expect({ status: answer.status, body: JSON.parse(answer.body) }).toEqual({
    status: 200,
    body: {
      accepted: 1,
      rejected: [],
      results: [{ index: 0, status_id: id, result: 'applied', version: 2 }],
    },
  })
  expect(await exitedWithin(server)).toEqual({ code: 0, signal: null })
  const restarted = await startServerProcess({ DATABASE_URL: url, ...NEVER_ON_TIME })
  expect(await readStatus(restarted, key, id!)).toMatchObject({ message: 'sent during shutdown', version: 2 })
})
