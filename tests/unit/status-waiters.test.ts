import type { StatusEvent, StatusRecord } from '../../src/domain/status-record'
import { createStatusWaiters, type WaitRequest } from '../../src/services/status-waiters'

// The waiting reads of SPEC §11 against a store held in a map and events handed to the sink by hand.

const record = (version: number, status: StatusRecord['status'] = 'processing') =>
  ({ status_id: 's', status, version }) as StatusRecord

function setup(maxPerKey = 3) {
  const store = new Map<string, StatusRecord>([['s', record(1)]])
  const waiters = createStatusWaiters({ read: async (_t, id) => store.get(id) ?? null, maxPerKey })
  const event = (r: StatusRecord, type: StatusEvent['type'] = 'status.updated') =>
    ({ type, status_id: r.status_id, version: r.version, status: r }) as StatusEvent
  const deliver = (...events: StatusEvent[]) => waiters.sink.deliver('t', events)
  const wait = (request: Partial<WaitRequest> = {}) =>
    waiters.wait({
      tenantId: 't',
      keyId: 'k',
      statusId: 's',
      until: 'terminal',
      timeoutMs: 60_000,
      ...request,
    })
  /** Lets the waiter's read settle. */
  const settled = () => new Promise((resolve) => setImmediate(resolve))
  return { store, waiters, event, deliver, wait, settled }
}

test('when the status becomes terminal through the feed, then the waiter answers with that record', async () => {
  const { waiters, deliver, event, wait, settled } = setup()
  const waiting = wait()
  await settled()
  expect(waiters.sink.wants!('t')).toBe(true)
  deliver(event(record(2)))
  deliver(event(record(3, 'completed')))
  expect(await waiting).toEqual({ record: record(3, 'completed'), timedOut: false })
  expect(waiters.count()).toBe(0)
  expect(waiters.sink.wants!('t')).toBe(false)
})

test('when waiting for a change, then a version at or below after_version does not answer; the next one does', async () => {
  const { deliver, event, wait, settled } = setup()
  const waiting = wait({ until: 'change', afterVersion: 2 })
  await settled()
  deliver(event(record(2)))
  deliver(event(record(3)))
  expect((await waiting).record.version).toBe(3)
})

test('when it already holds, then it answers at once from the read', async () => {
  const { store, wait } = setup()
  store.set('s', record(4, 'failed'))
  expect(await wait()).toEqual({ record: record(4, 'failed'), timedOut: false })
  expect(await wait({ until: 'change', afterVersion: 3 })).toMatchObject({ timedOut: false })
})

test('when the status is deleted or unknown, then 404', async () => {
  const { deliver, event, wait, settled } = setup()
  const waiting = wait()
  await settled()
  deliver(event(record(2), 'status.deleted'))
  await expect(waiting).rejects.toMatchObject({ code: 'status-not-found' })
  await expect(wait({ statusId: 'nope' })).rejects.toMatchObject({ code: 'status-not-found' })
})

test('when a key holds its maximum, then the next wait is too-many-waiters; another key may still wait', async () => {
  const { waiters, wait, deliver, event, settled } = setup(2)
  const held = [wait(), wait()]
  await expect(wait()).rejects.toMatchObject({ code: 'too-many-waiters', status: 429 })
  const other = wait({ keyId: 'other' })
  await settled()
  expect(waiters.count()).toBe(3)
  deliver(event(record(2, 'cancelled')))
  await Promise.all([...held, other])
  // Answered waiters give their places back.
  const again = wait()
  await settled()
  expect(waiters.count()).toBe(1)
  deliver(event(record(3, 'cancelled')))
  await again
})

test('when released for shutdown, then every waiter answers as a timeout with the newest record it saw, and later waits answer at once', async () => {
  const { waiters, deliver, event, wait, settled } = setup()
  const waiting = wait()
  await settled()
  deliver(event(record(2)))
  // An event older than what the waiter holds never replaces it.
  deliver(event(record(1)))
  waiters.releaseAll()
  expect(await waiting).toEqual({ record: record(2), timedOut: true })
  expect(await wait()).toEqual({ record: record(1), timedOut: true })
})

test('when nothing happens, then it answers at its timeout with the record as it then is', async () => {
  const { store, wait } = setup()
  const waiting = wait({ timeoutMs: 10 })
  store.set('s', record(2))
  expect(await waiting).toEqual({ record: record(2), timedOut: true })
})
