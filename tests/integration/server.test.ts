import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../src/config'
import { openDatabase } from '../../src/db/prisma'
import { startServer } from '../../src/server'
import { createServices } from '../../src/services'

let dir: string
let url: string
let key: string
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-server-'))
  url = `file:${path.join(dir, 'status.db')}`
  // A key up front, so startServer finds a non-empty database and prints no bootstrap key.
  const db = await openDatabase({ url })
  key = (await (await createServices({ db })).apiKeys.create('default', ['admin'])).secret
  await db.close()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const configFor = (databaseUrl: string) =>
  loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' })

test('when startServer is called, then it listens on a free port and serves the API', async () => {
  const { port, stop } = await startServer(configFor(url))
  try {
    expect(port).toBeGreaterThan(0)
    const res = await fetch(`http://127.0.0.1:${port}/api/status`, {
      headers: { Authorization: `Bearer ${key}` },
    })
    expect(res.status).toBe(200)
  } finally {
    await stop()
  }
})

test('when stop() is called twice, then both calls resolve and the server no longer accepts connections', async () => {
  const { port, stop } = await startServer(configFor(url))
  expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)

  const first = stop()
  const second = stop()
  await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined])
  await expect(stop()).resolves.toBeUndefined()

  await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow()
})

test('when a server was stopped, then another can start on the same database and sees its data', async () => {
  const before = await startServer(configFor(url))
  const created = await fetch(`http://127.0.0.1:${before.port}/api/status`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ status_id: 'survives-restart' }),
  })
  expect(created.status).toBe(201)
  await before.stop()

  const after = await startServer(configFor(url))
  try {
    const read = await fetch(`http://127.0.0.1:${after.port}/api/status/survives-restart`, {
      headers: { Authorization: `Bearer ${key}` },
    })
    expect(read.status).toBe(200)
  } finally {
    await after.stop()
  }
})
