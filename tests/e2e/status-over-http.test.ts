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
let key: string

beforeAll(async () => {
  server = await startServerProcess({ DATABASE_URL: database.url })
  key = server.adminKey!
})
afterAll(async () => {
  await killAllProcesses()
  database.cleanup()
})

interface Answer {
  status: number
  headers: Headers
  body: { [field: string]: unknown; items?: { type: string }[] }
}

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} }
}

test('when a status goes pending → processing → progress → completed over HTTP, then each step is recorded', async () => {
  const input = makeStatus()
  const id = input.status_id!

  const created = await call('POST', '/api/status', input)
  expect(created.status).toBe(201)
  expect(created.headers.get('location')).toBe(`/api/status/${id}`)
  expect(created.body).toMatchObject({ status: 'pending', version: 1, progress_percentage: 0 })

  const processing = await call('PUT', `/api/status/${id}`, { new_status: 'processing' })
  expect(processing.status).toBe(200)
  expect(processing.body).toMatchObject({ status: 'processing', version: 2 })
  expect(processing.body.started_at).toEqual(expect.any(String))

  const progress = await call('PUT', `/api/status/${id}`, { progress_percentage: 40, message: 'encoding' })
  expect(progress.status).toBe(200)
  expect(progress.headers.get('etag')).toBe('"3"')
  expect(progress.body).toMatchObject({ status: 'processing', progress_percentage: 40, message: 'encoding' })

  const completed = await call('PUT', `/api/status/${id}`, { new_status: 'completed' })
  expect(completed.status).toBe(200)
  expect(completed.body).toMatchObject({ status: 'completed', progress_percentage: 100, version: 4 })
  expect(completed.body.completed_at).toEqual(expect.any(String))

  const read = await call('GET', `/api/status/${id}`)
  expect(read.status).toBe(200)
  expect(read.body).toMatchObject({
    status: 'completed',
    version: 4,
    progress_percentage: 100,
    message: 'encoding',
  })

  const history = await call('GET', `/api/status/${id}/history`)
  expect(history.body.items?.map((event) => event.type)).toEqual([
    'status.created',
    'status.updated',
    'status.progress',
    'status.updated',
  ])
})
