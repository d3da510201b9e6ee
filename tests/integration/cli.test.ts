// The command line's main() in this process against the real app on a loopback port (the e2e suite
// runs the built command in processes of its own; this one measures what the code covers).
import { main } from '../../src/cli/main'
import type { StatusEvent } from '../../src/client'
import { clientOf, closeClients } from '../helpers/api-client'
import { captureIo } from '../helpers/cli'
import { buildTestApp, listenWithSockets, type TestApp } from '../helpers/test-app'
import { until } from '../helpers/wait'

jest.setTimeout(30_000)

let t: TestApp
let served: Awaited<ReturnType<typeof listenWithSockets>>
let api: ReturnType<typeof clientOf>

beforeAll(async () => {
  t = await buildTestApp()
  served = await listenWithSockets(t)
  api = clientOf({ baseUrl: served.url }, t.adminKey)
})
afterEach(closeClients)
afterAll(async () => {
  await served.close()
  await t.close()
})

const io = () => captureIo({ STATUS_TRACKER_URL: served.url, STATUS_TRACKER_TOKEN: t.adminKey })

let n = 0
const newId = (prefix: string) => `${prefix}-${Date.now()}-${(n += 1)}`

test('when run wraps a command that prints progress and many lines, then all of them are kept in order and it completes', async () => {
  const id = newId('many')
  const streams = io()
  // 250 lines at once: more than one append carries.
  const script = 'for i in $(seq 1 250); do echo "line $i"; done; echo "at 60%"; echo "warned" >&2'
  expect(await main(['run', '--id', id, '--progress', '(\\d+)%', '--', 'sh', '-c', script], streams)).toBe(0)
  const lines = []
  for await (const line of api.logs.listAll(id, { limit: 100 })) lines.push(line)
  expect(lines.map((l) => l.message)).toEqual([
    ...Array.from({ length: 250 }, (_, i) => `line ${i + 1}`),
    'at 60%',
    'warned',
  ])
  expect(lines.at(-1)!.level).toBe('warn')
  const history = (await api.statuses.history(id, { limit: 100 })).items
  expect(history.some((e) => e.status.progress_percentage === 60 && e.status.status === 'processing')).toBe(
    true,
  )
  expect((await api.statuses.get(id)).status).toBe('completed')
  expect(streams.err()).toBe('warned\n')
})

test('when the command writes lines faster than they can be sent, then the oldest waiting ones are dropped and a line says how many', async () => {
  const id = newId('flood')
  const streams = io()
  const script = 'seq 1 3000 | sed "s/^/line /"'
  expect(await main(['run', '--id', id, '--', 'sh', '-c', script], streams)).toBe(0)
  const lines = []
  for await (const line of api.logs.listAll(id, { limit: 1000 })) lines.push(line)
  const kept = lines.filter((l) => l.level === 'info').map((l) => Number(l.message.slice(5)))
  const dropped = Number(/(\d+) lines of output were not sent/.exec(streams.err())?.[1])
  expect(dropped).toBeGreaterThan(0)
  // What the service keeps (a status's newest 1,000 lines) is in order, without a repeat, ends with the
  // last line, and is no more than what was not dropped.
  expect(kept).toEqual([...new Set(kept)].sort((a, b) => a - b))
  expect(kept.at(-1)).toBe(3000)
  expect(kept.length).toBeLessThanOrEqual(3000 - dropped)
  expect(streams.out().split('\n')).toHaveLength(3001)
})

test('when run wraps a failing command as a child of a parent, then the child failed with its code and the parent rolls it up', async () => {
  const parent = await api.statuses.create({ status_id: newId('parent') })
  const id = newId('child')
  const streams = io()
  const code = await main(
    [
      'run',
      '--id',
      id,
      '--parent',
      parent.status_id,
      '--kind',
      'part',
      '--',
      'sh',
      '-c',
      'echo nope; exit 9',
    ],
    streams,
  )
  expect(code).toBe(9)
  expect(await api.statuses.get(id)).toMatchObject({
    status: 'failed',
    kind: 'part',
    parent_id: parent.status_id,
    error_info: { code: 'exit-9', message: 'nope' },
  })
  expect((await api.statuses.get(parent.status_id)).children).toMatchObject({
    total: 1,
    by_status: { failed: 1 },
  })
})

test('when run has a key that may not write, then it says the token was refused and the command still runs', async () => {
  const reader = await t.makeKey('default', ['status:read'])
  const streams = io()
  streams.env.STATUS_TRACKER_TOKEN = reader
  expect(await main(['run', '--id', newId('ro'), '--', 'sh', '-c', 'echo ran'], streams)).toBe(0)
  expect(streams.out()).toBe('ran\n')
  expect(streams.err()).toMatch(/refused the token \(403 /)
})

test('when watch --json follows a status to completion, then it prints its snapshot and each event, and exits 0', async () => {
  const id = newId('watched')
  await api.statuses.create({ status_id: id, status: 'processing' })
  const streams = io()
  const watching = main(['watch', id, '--json', '--until', 'terminal'], streams)
  await until(() => streams.out().includes('status.snapshot'), 'the snapshot')
  await api.statuses.update(id, { progress_percentage: 50 })
  await api.logs.append(id, [{ message: 'half way' }])
  await api.statuses.update(id, { new_status: 'completed' })
  expect(await watching).toBe(0)
  const printed = streams
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StatusEvent | { type: 'status.snapshot' })
  expect(printed.map((p) => p.type)).toEqual([
    'status.snapshot',
    'status.progress',
    'status.log',
    'status.updated',
  ])
})

test('when watch follows a status that is deleted, then --until terminal exits 1', async () => {
  const id = newId('deleted')
  await api.statuses.create({ status_id: id })
  const streams = io()
  const watching = main(['watch', id, '--until', 'terminal'], streams)
  await until(() => streams.out().includes(id), 'the snapshot line')
  await api.statuses.delete(id)
  expect(await watching).toBe(1)
})

test('when get, list, cancel and logs run, then they print what the API says', async () => {
  const id = newId('read')
  await api.statuses.create({ status_id: id, kind: 'report', tags: ['q4'], metadata: {} })
  await api.logs.append(id, [{ message: 'started', level: 'debug' }])
  const got = io()
  expect(await main(['get', id], got)).toBe(0)
  expect(got.out()).toMatch(new RegExp(`^id:\\s+${id}\\n(.*\\n)*tags:\\s+q4\\n`))
  const listed = io()
  expect(await main(['list', '--filter', 'kind=report', '--limit', '1'], listed)).toBe(0)
  expect(listed.out()).toContain(id)
  const logs = io()
  expect(await main(['logs', id], logs)).toBe(0)
  expect(logs.out()).toMatch(/ {2}debug {2}started\n$/)
  const cancelled = io()
  expect(await main(['cancel', id, '--json'], cancelled)).toBe(0)
  expect(JSON.parse(cancelled.out())).toMatchObject({ status_id: id, status: 'cancelled' })
  const follow = io()
  expect(await main(['logs', id, '--follow'], follow)).toBe(0)
  expect(follow.out()).toContain('started')
  const missing = io()
  expect(await main(['logs', newId('none'), '--follow'], missing)).toBe(3)
  expect(missing.err()).toContain('no such status')
})
