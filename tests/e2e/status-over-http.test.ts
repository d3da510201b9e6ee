import type { StatusTrackerClient } from '../../src/client'
import { clientOf } from '../helpers/api-client'
import { makeStatus } from '../helpers/factories'
import {
  killAllProcesses,
  startServerProcess,
  tempDatabase,
  type ServerProcess,
} from '../helpers/server-process'

jest.setTimeout(60_000)

const database = tempDatabase()
let server: ServerProcess
let client: StatusTrackerClient

beforeAll(async () => {
  server = await startServerProcess({ DATABASE_URL: database.url })
  client = clientOf(server, server.adminKey!)
})
afterAll(async () => {
  await killAllProcesses()
  database.cleanup()
})

test('when a status goes pending → processing → progress → completed over HTTP, then each step is recorded', async () => {
  const input = makeStatus()
  const id = input.status_id!

  const created = await client.statuses.create(input).withResponse()
  expect(created.response.status).toBe(201)
  expect(created.response.headers.get('location')).toBe(`/api/status/${id}`)
  expect(created.data).toMatchObject({ status: 'pending', version: 1, progress_percentage: 0 })

  const processing = await client.statuses.update(id, { new_status: 'processing' }).withResponse()
  expect(processing.response.status).toBe(200)
  expect(processing.data).toMatchObject({ status: 'processing', version: 2 })
  expect(processing.data.started_at).toEqual(expect.any(String))

  const progress = await client.statuses
    .update(id, { progress_percentage: 40, message: 'encoding' })
    .withResponse()
  expect(progress.response.status).toBe(200)
  expect(progress.response.headers.get('etag')).toBe('"3"')
  expect(progress.data).toMatchObject({ status: 'processing', progress_percentage: 40, message: 'encoding' })

  const completed = await client.statuses.update(id, { new_status: 'completed' }).withResponse()
  expect(completed.response.status).toBe(200)
  expect(completed.data).toMatchObject({ status: 'completed', progress_percentage: 100, version: 4 })
  expect(completed.data.completed_at).toEqual(expect.any(String))

  const read = await client.statuses.get(id).withResponse()
  expect(read.response.status).toBe(200)
  expect(read.data).toMatchObject({
    status: 'completed',
    version: 4,
    progress_percentage: 100,
    message: 'encoding',
  })

  const history = await client.statuses.history(id)
  expect(history.items.map((event) => event.type)).toEqual([
    'status.created',
    'status.updated',
    'status.progress',
    'status.updated',
  ])
})
