import type { StatusEvent } from '../../src/client'
import { clientOf, closeClients } from '../helpers/api-client'
import { makeStatus } from '../helpers/factories'
import { killAllProcesses, startServerProcess, tempDatabase } from '../helpers/server-process'
import { until } from '../helpers/wait'

jest.setTimeout(60_000)

const databases: ReturnType<typeof tempDatabase>[] = []

afterEach(async () => {
  await closeClients()
  await killAllProcesses()
})
afterAll(() => databases.forEach((database) => database.cleanup()))

const newDatabase = () => {
  const database = tempDatabase()
  databases.push(database)
  return database
}

test('when the server is SIGKILLed right after a 200 on PUT, then after a restart a subscriber resuming from its last seen seq is replayed that update’s event', async () => {
  const { url } = newDatabase()
  const first = await startServerProcess({ DATABASE_URL: url })
  const key = first.adminKey!
  const api = clientOf(first, key)
  const { status_id: id } = makeStatus()
  expect((await api.statuses.create({ status_id: id }).withResponse()).response.status).toBe(201)

  const seen: StatusEvent[] = []
  const before = api.subscribe({ since_seq: 0 }, { onEvent: (event) => seen.push(event) })
  const ack = await before.ready
  expect(ack).toMatchObject({ ok: true, seq: 1, replayed: 1 })
  await until(() => seen.length === 1, 'the creation was replayed')
  const lastSeen = seen.at(-1)!.seq

  const put = await api.statuses
    .update(id!, {
      new_status: 'processing',
      progress_percentage: 42,
      message: 'written just before the crash',
    })
    .withResponse()
  expect(put.response.status).toBe(200)
  expect((await first.kill('SIGKILL')).signal).toBe('SIGKILL')
  // Whether or not it made it to the client before the crash, the client had not processed it.
  const deliveredBeforeCrash = seen.find((event) => event.seq > lastSeen)
  await before.close()

  const second = await startServerProcess({ DATABASE_URL: url })
  expect(second.adminKey).toBeUndefined()
  const resumedApi = clientOf(second, key)
  const replayed: StatusEvent[] = []
  const after = resumedApi.subscribe({ since_seq: lastSeen }, { onEvent: (event) => replayed.push(event) })
  const resumed = await after.ready
  expect(resumed).toMatchObject({ ok: true, seq: lastSeen + 1, replayed: 1 })
  await until(() => replayed.length === 1, 'the update was replayed')

  expect(replayed[0]).toMatchObject({
    seq: lastSeen + 1,
    type: 'status.updated',
    status_id: id,
    version: 2,
    changes: expect.objectContaining({ status: ['pending', 'processing'] }),
    status: expect.objectContaining({
      status: 'processing',
      progress_percentage: 42,
      message: 'written just before the crash',
    }),
  })
  // Delivered twice at most, and recognisably the same event.
  if (deliveredBeforeCrash) expect(deliveredBeforeCrash.event_id).toBe(replayed[0]!.event_id)
  const { items } = await resumedApi.events.list({ after_seq: lastSeen })
  expect(items).toEqual([expect.objectContaining({ event_id: replayed[0]!.event_id })])
})

test('when the server gets SIGTERM, then Socket.IO and SSE clients are disconnected and the process exits 0', async () => {
  const server = await startServerProcess({ DATABASE_URL: newDatabase().url })
  const api = clientOf(server, server.adminKey!)
  let socketClosed!: Promise<string>
  const subscription = api.subscribe(
    {},
    { onDisconnect: (reason) => (socketClosed ??= Promise.resolve(reason)) },
  )
  expect(await subscription.ready).toMatchObject({ ok: true })

  let sseStatus: number | undefined
  const sseEvents: StatusEvent[] = []
  // Resolves when the server ends the stream; a connection cut short instead rejects.
  const sseEnded = (async () => {
    for await (const event of api.events.stream({ onOpen: ({ status }) => (sseStatus = status) })) {
      sseEvents.push(event)
    }
    return true
  })()
  await until(() => sseStatus !== undefined, 'the SSE stream is open')
  expect(sseStatus).toBe(200)

  const exit = await server.kill('SIGTERM')

  expect(exit).toEqual({ code: 0, signal: null })
  await until(() => socketClosed !== undefined, 'the socket was disconnected')
  expect(await socketClosed).toMatch(/io server disconnect|transport close/)
  expect(await sseEnded).toBe(true)
  expect(sseEvents).toEqual([])
  expect(server.stdout()).toContain('"msg":"stopped"')
  expect(server.stdout()).not.toContain('shutdown grace period over')
})
