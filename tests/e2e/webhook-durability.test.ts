import { createHmac } from 'node:crypto'
import { exitedWithin, startServerProcess, useTempDatabases, waitForLog } from '../helpers/server-process'
import { until } from '../helpers/wait'
import type { DeliveryJson } from '../helpers/webhook-api'
import { startReceiver, type Receiver } from '../helpers/webhook-receiver'

jest.setTimeout(90_000)

const newDatabase = useTempDatabases()
const receivers: Receiver[] = []
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()))
})

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const started = await startReceiver(...args)
  receivers.push(started)
  return started
}

const call = async (baseUrl: string, key: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const deliveries = async (baseUrl: string, key: string, webhookId: string) =>
  (await call(baseUrl, key, 'GET', `/api/webhooks/${webhookId}/deliveries`)).body.items as DeliveryJson[]

test('when SIGTERM arrives while a delivery is on the wire, then it finishes and is recorded, and the process exits 0', async () => {
  const { url } = newDatabase()
  const inbox = await receiver((n) => (n === 1 ? 'hang' : 200))
  const server = await startServerProcess({ DATABASE_URL: url })
  const key = server.adminKey!
  const hook = await call(server.baseUrl, key, 'POST', '/api/webhooks', { url: inbox.url })
  expect(hook.status).toBe(201)
  expect((await call(server.baseUrl, key, 'POST', '/api/status', { status_id: 'job-1' })).status).toBe(201)
  await until(() => inbox.held() === 1, 'the delivery is on the wire')

  server.child.kill('SIGTERM')
  await waitForLog(server, 'shutting down')
  inbox.release(200)

  expect(await exitedWithin(server)).toEqual({ code: 0, signal: null })
  const [request] = inbox.received
  const secret = hook.body.secret as string
  expect(request!.headers['x-signature']).toBe(
    `sha256=${createHmac('sha256', secret).update(request!.raw).digest('hex')}`,
  )
  const restarted = await startServerProcess({ DATABASE_URL: url })
  expect(await deliveries(restarted.baseUrl, key, hook.body.id as string)).toEqual([
    expect.objectContaining({ state: 'delivered', attempts: 1, event_id: request!.event.event_id }),
  ])
  expect(inbox.received).toHaveLength(1)
})

test('when the process is SIGKILLed with deliveries pending, then they are delivered after a restart', async () => {
  const { url } = newDatabase()
  const inbox = await receiver(() => 503)
  const env = { DATABASE_URL: url, WEBHOOK_BACKOFF_BASE_MS: '50', WEBHOOK_TIMEOUT_MS: '1000' }
  const first = await startServerProcess(env)
  const key = first.adminKey!
  const hook = await call(first.baseUrl, key, 'POST', '/api/webhooks', { url: inbox.url })
  for (const id of ['job-1', 'job-2', 'job-3']) {
    expect((await call(first.baseUrl, key, 'POST', '/api/status', { status_id: id })).status).toBe(201)
  }
  await until(() => new Set(inbox.eventIds()).size === 3, 'each event was attempted and refused')

  await first.kill('SIGKILL')
  inbox.reply(() => 200)
  const second = await startServerProcess(env)

  const webhookId = hook.body.id as string
  await until(
    async () => (await deliveries(second.baseUrl, key, webhookId)).every((d) => d.state === 'delivered'),
    'every delivery is delivered',
  )
  expect((await deliveries(second.baseUrl, key, webhookId)).map((d) => d.seq).sort()).toEqual([1, 2, 3])
})
