import pino from 'pino'
import { createIdempotencyRepository } from '../../src/db/idempotency-repository'
import type { StatusChangeEvent as StatusEvent } from '../../src/domain/status-record'
import { AppError } from '../../src/errors'
import {
  createStatusUpdater,
  type BatchItem,
  type ItemResult,
  type StatusUpdater,
  type StatusUpdaterOptions,
} from '../../src/services/status-updater'
import { makeStatus } from '../helpers/factories'
import { buildTestApp, type TestApp } from '../helpers/test-app'
import { freshTenantName } from '../helpers/tenants'

// The batched write path against a real SQLite file: each test builds an updater over the app's own
// database and status repository (as createServices does) with the batch size, flush delay and queue
// bound it needs. A flush delay of a minute means "never on time": those tests flush by size or by hand.
let t: TestApp
const started: StatusUpdater[] = []

beforeAll(async () => {
  t = await buildTestApp()
})
afterEach(async () => {
  await Promise.all(started.splice(0).map((updater) => updater.stop()))
})
afterAll(() => t.close())

function newUpdater(options: Partial<StatusUpdaterOptions> = {}): StatusUpdater {
  const updater = createStatusUpdater({
    db: t.db,
    statusRepository: t.services.statusRepository,
    idempotency: createIdempotencyRepository(t.db.dialect),
    idempotencyTtlMs: 3_600_000,
    logger: pino({ level: 'silent' }),
    batchSize: 500,
    flushMs: 60_000,
    maxQueue: 10_000,
    ...options,
  })
  started.push(updater)
  return updater
}

/** A tenant of its own (its row exists, so it can take events), so feeds and counts are the test's alone. */
async function newTenant(): Promise<string> {
  const tenant = freshTenantName('updater')
  await t.makeKey(tenant)
  return tenant
}

async function createStatuses(tenant: string, count: number, status: 'pending' | 'processing' = 'pending') {
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const { result } = await t.services.statuses.create(tenant, { ...makeStatus(), status })
    ids.push(result.status_id)
  }
  return ids
}

/** Submits items that must all be accepted and returns their result promises in order. */
async function submitAll(
  updater: StatusUpdater,
  tenant: string,
  items: BatchItem[],
): Promise<Promise<ItemResult>[]> {
  const submitted = await updater.submit(tenant, items)
  expect(submitted.rejected).toEqual([])
  expect(submitted.accepted.map((a) => a.index)).toEqual(items.map((_, i) => i))
  return submitted.accepted.map((a) => a.result)
}

const history = async (tenant: string, id: string): Promise<StatusEvent[]> =>
  (await t.services.statuses.history(tenant, id, { limit: 500 })).items
/** The tenant's feed; these tests write no log lines, so every event is a change. */
const feed = async (tenant: string): Promise<StatusEvent[]> =>
  (await t.services.statuses.feed(tenant, { afterSeq: 0, limit: 1000 })).items as StatusEvent[]
const current = (tenant: string, id: string) => t.services.statuses.get(tenant, id)
/** The record as an event carries it: dates as RFC 3339 strings. */
const asJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown

/** True once the promise has settled; checked after the event loop has had a turn. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  await new Promise((resolve) => setImmediate(resolve))
  return settled
}

async function thrown(fn: () => unknown): Promise<AppError> {
  try {
    await fn()
  } catch (err) {
    if (err instanceof AppError) return err
    throw err
  }
  throw new Error('expected an AppError, nothing was thrown')
}

describe('coalescing', () => {
  test('when progress-only items for one status queue up, then they merge into one write where the last value wins and fully overwritten items answer stale', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater()

    const results = await submitAll(updater, tenant, [
      { status_id: id!, progress_percentage: 10 },
      { status_id: id!, progress_percentage: 20 },
      { status_id: id!, progress_percentage: 30, message: 'third' },
    ])
    await updater.flush()

    expect(await Promise.all(results)).toEqual([
      { result: 'stale', status_id: id },
      { result: 'stale', status_id: id },
      { result: 'applied', status_id: id, version: 2 },
    ])
    expect(await current(tenant, id!)).toMatchObject({
      progress_percentage: 30,
      message: 'third',
      version: 2,
    })
    const events = await history(tenant, id!)
    expect(events.map((e) => [e.type, e.version])).toEqual([
      ['status.created', 1],
      ['status.progress', 2],
    ])
    expect(events[1]!.changes).toMatchObject({ progress_percentage: [0, 30], message: [null, 'third'] })
  })

  test('when a later item overwrites only some fields of an earlier one, then the earlier one answers applied with the merged version', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater()

    const results = await submitAll(updater, tenant, [
      { status_id: id!, progress_percentage: 10, message: 'kept' },
      { status_id: id!, progress_percentage: 20 },
    ])
    await updater.flush()

    expect(await Promise.all(results)).toEqual([
      { result: 'applied', status_id: id, version: 2 },
      { result: 'applied', status_id: id, version: 2 },
    ])
    expect(await current(tenant, id!)).toMatchObject({ progress_percentage: 20, message: 'kept', version: 2 })
  })

  test('when several later items together overwrite every field of an earlier one, then the earlier one answers stale', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater()

    const results = await submitAll(updater, tenant, [
      { status_id: id!, progress_percentage: 10, message: 'first' },
      { status_id: id!, progress_percentage: 20 },
      { status_id: id!, message: 'third' },
    ])
    await updater.flush()

    expect(await Promise.all(results)).toEqual([
      { result: 'stale', status_id: id },
      { result: 'applied', status_id: id, version: 2 },
      { result: 'applied', status_id: id, version: 2 },
    ])
    expect(await current(tenant, id!)).toMatchObject({ progress_percentage: 20, message: 'third' })
  })

  test('when progress items are separated by a transition, then they are not merged across it', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'pending')
    const updater = newUpdater()

    const results = await submitAll(updater, tenant, [
      { status_id: id!, progress_percentage: 5 },
      { status_id: id!, new_status: 'processing' },
      { status_id: id!, progress_percentage: 60 },
    ])
    await updater.flush()

    expect(await Promise.all(results)).toEqual([
      { result: 'applied', status_id: id, version: 2 },
      { result: 'applied', status_id: id, version: 3 },
      { result: 'applied', status_id: id, version: 4 },
    ])
    const events = await history(tenant, id!)
    expect(events.map((e) => e.changes.progress_percentage ?? null)).toEqual([null, [0, 5], null, [5, 60]])
  })

  test('when an item changes nothing, then it answers applied at the current version and writes no event', async () => {
    const tenant = await newTenant()
    const created = await t.services.statuses.create(tenant, { ...makeStatus(), message: 'same' })
    const id = created.result.status_id
    const updater = newUpdater()

    const [result] = await submitAll(updater, tenant, [{ status_id: id, message: 'same' }])
    await updater.flush()

    expect(await result).toEqual({ result: 'applied', status_id: id, version: 1 })
    expect(await history(tenant, id)).toHaveLength(1)
  })
})

describe('transitions in one batch', () => {
  test('when one batch moves a status through pending, processing, progress and completed, then every step is an event in order with versions 2, 3, 4 and gap-free seq', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'pending')
    const updater = newUpdater()

    const results = await submitAll(updater, tenant, [
      { status_id: id!, new_status: 'processing' },
      { status_id: id!, progress_percentage: 50, message: 'half way' },
      { status_id: id!, new_status: 'completed' },
    ])
    await updater.flush()

    expect((await Promise.all(results)).map((r) => r.result === 'applied' && r.version)).toEqual([2, 3, 4])
    const events = await feed(tenant)
    expect(events.map((e) => [e.type, e.version, e.status.status])).toEqual([
      ['status.created', 1, 'pending'],
      ['status.updated', 2, 'processing'],
      ['status.progress', 3, 'processing'],
      ['status.updated', 4, 'completed'],
    ])
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4])
    expect(events[1]!.changes.status).toEqual(['pending', 'processing'])
    expect(events[3]!.changes.status).toEqual(['processing', 'completed'])
    expect(await current(tenant, id!)).toMatchObject({
      status: 'completed',
      progress_percentage: 100,
      message: 'half way',
      version: 4,
      started_at: expect.any(Date),
      completed_at: expect.any(Date),
    })
  })

  test('when an illegal transition sits in the middle of a batch, then only that item fails with invalid-transition and the later items still apply', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'pending')
    const updater = newUpdater()

    const results = await submitAll(updater, tenant, [
      { status_id: id!, new_status: 'processing' },
      { status_id: id!, new_status: 'pending' },
      { status_id: id!, progress_percentage: 40 },
      { status_id: id!, new_status: 'completed' },
    ])
    await updater.flush()

    expect(await Promise.all(results)).toEqual([
      { result: 'applied', status_id: id, version: 2 },
      {
        result: 'error',
        status_id: id,
        error: { code: 'invalid-transition', message: expect.stringContaining('processing to pending') },
      },
      { result: 'applied', status_id: id, version: 3 },
      { result: 'applied', status_id: id, version: 4 },
    ])
    expect((await history(tenant, id!)).map((e) => e.version)).toEqual([1, 2, 3, 4])
  })

  test('when a batch changes a status that is already terminal, then its items fail with status-terminal and nothing is written', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    await t.services.statuses.update(tenant, id!, { new_status: 'completed' })
    const updater = newUpdater()

    const [result] = await submitAll(updater, tenant, [{ status_id: id!, message: 'too late' }])
    await updater.flush()

    expect(await result).toMatchObject({ result: 'error', error: { code: 'status-terminal' } })
    expect(await current(tenant, id!)).toMatchObject({ version: 2, message: null })
  })

  test('when one batch holds many statuses, then each applied change has its event, written together with contiguous seq and one commit time', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 5, 'processing')
    const updater = newUpdater()
    const before = (await feed(tenant)).length

    const results = await submitAll(
      updater,
      tenant,
      ids.map((id, i) => ({ status_id: id, progress_percentage: 10 * (i + 1), message: `step ${i}` })),
    )
    await updater.flush()

    expect((await Promise.all(results)).every((r) => r.result === 'applied' && r.version === 2)).toBe(true)
    const written = (await feed(tenant)).slice(before)
    expect(written.map((e) => e.seq)).toEqual([6, 7, 8, 9, 10])
    expect(new Set(written.map((e) => e.occurred_at.toISOString())).size).toBe(1)
    for (const [i, id] of ids.entries()) {
      const event = written.find((e) => e.status_id === id)!
      expect(event).toMatchObject({ type: 'status.progress', version: 2 })
      expect(event.status).toEqual(asJson(await current(tenant, id)))
      expect(event.status).toMatchObject({ progress_percentage: 10 * (i + 1), message: `step ${i}` })
    }
    expect(updater.stats()).toMatchObject({ flushes: 1, updates_written: 5, mean_batch_statuses: 5 })
  })
})

describe('what submit refuses', () => {
  test('when items name unknown statuses or another tenant’s, then they are rejected at submit by index and only the known ones are queued', async () => {
    const tenant = await newTenant()
    const other = await newTenant()
    const [mine] = await createStatuses(tenant, 1, 'processing')
    const [theirs] = await createStatuses(other, 1, 'processing')
    const updater = newUpdater()

    const submitted = await updater.submit(tenant, [
      { status_id: 'no-such-status', progress_percentage: 1 },
      { status_id: mine!, progress_percentage: 2 },
      { status_id: theirs!, progress_percentage: 3 },
    ])

    expect(submitted.rejected).toEqual([
      { index: 0, error: { code: 'status-not-found', message: 'Status no-such-status not found' } },
      { index: 2, error: { code: 'status-not-found', message: `Status ${theirs} not found` } },
    ])
    expect(submitted.accepted.map((a) => a.index)).toEqual([1])
    expect(updater.depth()).toBe(1)
    await updater.flush()
    expect(await submitted.accepted[0]!.result).toEqual({ result: 'applied', status_id: mine, version: 2 })
    expect(await current(other, theirs!)).toMatchObject({ progress_percentage: 0, version: 1 })
  })

  test('when a submit would overflow the queue, then it throws queue-full 503 and queues none of its items', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 4, 'processing')
    const updater = newUpdater({ maxQueue: 3 })
    const first = await submitAll(updater, tenant, [
      { status_id: ids[0]!, progress_percentage: 10 },
      { status_id: ids[1]!, progress_percentage: 10 },
    ])

    const error = await thrown(() =>
      updater.submit(tenant, [
        { status_id: ids[2]!, progress_percentage: 20 },
        { status_id: ids[3]!, progress_percentage: 20 },
      ]),
    )

    expect(error).toMatchObject({ code: 'queue-full', status: 503, extra: { retry_after: 1 } })
    expect(updater.depth()).toBe(2)
    // Unknown ids take no room: one known item and any number of unknown ones still fit.
    const fits = await updater.submit(tenant, [
      { status_id: 'unknown-a', progress_percentage: 1 },
      { status_id: ids[2]!, progress_percentage: 30 },
      { status_id: 'unknown-b', progress_percentage: 1 },
    ])
    expect(fits.accepted).toHaveLength(1)
    expect(updater.depth()).toBe(3)
    await updater.flush()
    await Promise.all([...first, fits.accepted[0]!.result])
    expect(await current(tenant, ids[2]!)).toMatchObject({ progress_percentage: 30 })
    expect(await current(tenant, ids[3]!)).toMatchObject({ progress_percentage: 0, version: 1 })
  })
})

describe('when a batch is flushed', () => {
  test('when fewer items than the batch size wait and the delay has not passed, then nothing is written until a flush', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater({ batchSize: 10 })

    const [result] = await submitAll(updater, tenant, [{ status_id: id!, progress_percentage: 70 }])

    expect(await hasSettled(result!)).toBe(false)
    expect(updater.depth()).toBe(1)
    expect(await current(tenant, id!)).toMatchObject({ progress_percentage: 0 })
    await updater.flush()
    expect(await result).toMatchObject({ result: 'applied', version: 2 })
    expect(updater.depth()).toBe(0)
  })

  test('when more items than the batch size are submitted, then they are written in batches of that size without waiting for the delay', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 7, 'processing')
    const updater = newUpdater({ batchSize: 3 })

    const results = await submitAll(
      updater,
      tenant,
      ids.map((id) => ({ status_id: id, progress_percentage: 42 })),
    )

    const answers = await Promise.all(results)
    expect(answers.every((a) => a.result === 'applied' && a.version === 2)).toBe(true)
    expect(updater.stats()).toMatchObject({ flushes: 3, updates_written: 7, queue_depth: 0 })
    for (const id of ids) expect(await current(tenant, id)).toMatchObject({ progress_percentage: 42 })
  })

  test('when items arrive one submit at a time until the batch size is reached, then the batch flushes by itself', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 3, 'processing')
    const updater = newUpdater({ batchSize: 3 })

    const first = await submitAll(updater, tenant, [{ status_id: ids[0]!, progress_percentage: 1 }])
    const second = await submitAll(updater, tenant, [{ status_id: ids[1]!, progress_percentage: 2 }])
    expect(await hasSettled(first[0]!)).toBe(false)
    const third = await submitAll(updater, tenant, [{ status_id: ids[2]!, progress_percentage: 3 }])

    const answers = await Promise.all([...first, ...second, ...third])
    expect(answers.map((a) => a.result)).toEqual(['applied', 'applied', 'applied'])
    expect(updater.stats()).toMatchObject({ flushes: 1, mean_batch_statuses: 3 })
  })

  test('when the flush delay passes, then queued items are written without an explicit flush', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater({ batchSize: 100, flushMs: 20 })

    const [result] = await submitAll(updater, tenant, [{ status_id: id!, progress_percentage: 55 }])

    expect(await result).toEqual({ result: 'applied', status_id: id, version: 2 })
    expect(await current(tenant, id!)).toMatchObject({ progress_percentage: 55 })
  })

  test('when flush is called with nothing queued, then later items are still flushed on time and on size', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 3, 'processing')
    const updater = newUpdater({ batchSize: 2, flushMs: 10 })

    await updater.flush()
    const [onTime] = await submitAll(updater, tenant, [{ status_id: ids[0]!, progress_percentage: 10 }])
    expect(await onTime).toMatchObject({ result: 'applied', version: 2 })
    await updater.flush()
    const onSize = await submitAll(updater, tenant, [
      { status_id: ids[1]!, progress_percentage: 20 },
      { status_id: ids[2]!, progress_percentage: 30 },
    ])

    expect((await Promise.all(onSize)).map((r) => r.result)).toEqual(['applied', 'applied'])
    expect(updater.stats()).toMatchObject({ flushes: 2, queue_depth: 0 })
  })

  test('when items are submitted while a batch is being written, then they are written after it by the same flush', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 2, 'processing')
    const updater = newUpdater({ batchSize: 100, flushMs: 5 })

    const first = await submitAll(updater, tenant, [{ status_id: ids[0]!, progress_percentage: 10 }])
    const flushing = updater.flush()
    const second = await submitAll(updater, tenant, [{ status_id: ids[1]!, progress_percentage: 20 }])
    await flushing

    expect(await Promise.all([...first, ...second])).toEqual([
      { result: 'applied', status_id: ids[0], version: 2 },
      { result: 'applied', status_id: ids[1], version: 2 },
    ])
    expect(updater.depth()).toBe(0)
  })

  test('when a status is deleted between submit and flush, then its item answers status-not-found and the others apply', async () => {
    const tenant = await newTenant()
    const [gone, kept] = await createStatuses(tenant, 2, 'processing')
    const updater = newUpdater()
    const [goneResult, keptResult] = await submitAll(updater, tenant, [
      { status_id: gone!, progress_percentage: 10 },
      { status_id: kept!, progress_percentage: 20 },
    ])

    await t.services.statuses.remove(tenant, gone!)
    await updater.flush()

    expect(await goneResult).toEqual({
      result: 'error',
      status_id: gone,
      error: { code: 'status-not-found', message: `Status ${gone} not found` },
    })
    expect(await keptResult).toEqual({ result: 'applied', status_id: kept, version: 2 })
    await expect(current(tenant, gone!)).rejects.toMatchObject({ code: 'status-not-found' })
    expect((await history(tenant, gone!)).map((e) => e.type)).toEqual(['status.created', 'status.deleted'])
  })

  test('when one tenant’s write fails inside the batch transaction, then the other tenant’s items are still written and the broken tenant’s answer internal-error', async () => {
    const healthy = await newTenant()
    const broken = await newTenant()
    const healthyIds = await createStatuses(healthy, 2, 'processing')
    const [brokenId] = await createStatuses(broken, 1, 'processing')
    const updater = newUpdater()
    const healthyResults = await submitAll(
      updater,
      healthy,
      healthyIds.map((id) => ({ status_id: id, progress_percentage: 33 })),
    )
    const [brokenResult] = await submitAll(updater, broken, [
      { status_id: brokenId!, progress_percentage: 66 },
    ])

    // Without its tenant row the broken tenant cannot allocate event seq numbers: its write throws for real.
    await t.db.write((tx) => tx.$executeRaw`DELETE FROM tenants WHERE id = ${broken}`)
    const single = expect(updater.execute(broken, brokenId!, { type: 'cancel' })).rejects.toBeInstanceOf(
      Error,
    )
    await updater.flush()
    await single

    expect(await Promise.all(healthyResults)).toEqual(
      healthyIds.map((id) => ({ result: 'applied', status_id: id, version: 2 })),
    )
    expect(await brokenResult).toEqual({
      result: 'error',
      status_id: brokenId,
      error: { code: 'internal-error', message: 'The update could not be stored' },
    })
    for (const id of healthyIds) expect(await current(healthy, id)).toMatchObject({ progress_percentage: 33 })
    expect(await current(broken, brokenId!)).toMatchObject({ progress_percentage: 0, version: 1 })
    expect((await feed(healthy)).map((e) => e.seq)).toEqual([1, 2, 3, 4])
    expect(await feed(broken)).toHaveLength(1)
  })
})

describe('stop', () => {
  test('when stopped, then everything queued is written, later submits are refused with shutting-down 503, and stopping again is harmless', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 3, 'processing')
    const updater = newUpdater({ batchSize: 100 })
    const results = await submitAll(
      updater,
      tenant,
      ids.map((id) => ({ status_id: id, message: 'flushed on stop' })),
    )

    await updater.stop()

    expect(await Promise.all(results)).toEqual(
      ids.map((id) => ({ result: 'applied', status_id: id, version: 2 })),
    )
    for (const id of ids) expect(await current(tenant, id)).toMatchObject({ message: 'flushed on stop' })
    const refused = await thrown(() =>
      updater.submit(tenant, [{ status_id: ids[0]!, message: 'after stop' }]),
    )
    expect(refused).toMatchObject({ code: 'shutting-down', status: 503, extra: { retry_after: 1 } })
    await expect(updater.stop()).resolves.toBeUndefined()
    expect(updater.depth()).toBe(0)
    expect(await current(tenant, ids[0]!)).toMatchObject({ message: 'flushed on stop', version: 2 })
  })

  test('when draining for shutdown, then what is queued is written and later submits are still accepted and written without waiting for the delay', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 2, 'processing')
    const updater = newUpdater({ batchSize: 100 })
    const [queued] = await submitAll(updater, tenant, [{ status_id: ids[0]!, progress_percentage: 10 }])

    await updater.drain()
    expect(await queued).toMatchObject({ result: 'applied', version: 2 })
    const [late] = await submitAll(updater, tenant, [{ status_id: ids[1]!, progress_percentage: 20 }])

    expect(await late).toMatchObject({ result: 'applied', version: 2 })
    expect(await current(tenant, ids[1]!)).toMatchObject({ progress_percentage: 20 })
  })

  test('when stop is called twice at once while items wait, then both calls resolve after the items are written once', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater()
    const [result] = await submitAll(updater, tenant, [{ status_id: id!, progress_percentage: 12 }])

    await Promise.all([updater.stop(), updater.stop()])

    expect(await result).toMatchObject({ result: 'applied', version: 2 })
    expect(updater.stats()).toMatchObject({ flushes: 1, updates_written: 1 })
    expect(await history(tenant, id!)).toHaveLength(2)
  })
})

describe('stats', () => {
  test('when nothing has been flushed yet, then stats report the queue and zero means', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 2, 'processing')
    const updater = newUpdater({ maxQueue: 50 })
    await submitAll(updater, tenant, [
      { status_id: ids[0]!, progress_percentage: 1 },
      { status_id: ids[0]!, progress_percentage: 2 },
      { status_id: ids[1]!, progress_percentage: 3 },
    ])

    expect(updater.depth()).toBe(3)
    expect(updater.stats()).toEqual({
      queue_depth: 3,
      queue_capacity: 50,
      flushes: 0,
      updates_written: 0,
      last_flush_ms: 0,
      mean_flush_ms: 0,
      mean_batch_statuses: 0,
    })
  })

  test('when batches have been flushed, then stats count flushes, items and statuses per batch', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 3, 'processing')
    const updater = newUpdater()
    const first = await submitAll(updater, tenant, [
      { status_id: ids[0]!, progress_percentage: 1 },
      { status_id: ids[0]!, progress_percentage: 2 },
      { status_id: ids[1]!, progress_percentage: 3 },
    ])
    await updater.flush()
    const second = await submitAll(updater, tenant, [{ status_id: ids[2]!, progress_percentage: 4 }])
    await updater.flush()
    await Promise.all([...first, ...second])

    const stats = updater.stats()
    expect(stats).toEqual({
      queue_depth: 0,
      queue_capacity: 10_000,
      flushes: 2,
      updates_written: 4,
      last_flush_ms: expect.any(Number),
      mean_flush_ms: expect.any(Number),
      mean_batch_statuses: 1.5,
    })
    expect(stats.last_flush_ms).toBeGreaterThan(0)
    expect(stats.last_flush_ms).toBeLessThan(10_000)
    expect(Math.round(stats.last_flush_ms * 100) / 100).toBe(stats.last_flush_ms)
  })

  test('when two flushes have run, then the mean flush time lies between theirs', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater()
    const lasts: number[] = []
    for (const p of [10, 20]) {
      const results = await submitAll(updater, tenant, [{ status_id: id!, progress_percentage: p }])
      await updater.flush()
      await Promise.all(results)
      lasts.push(updater.stats().last_flush_ms)
    }
    const { mean_flush_ms, flushes } = updater.stats()
    expect(flushes).toBe(2)
    expect(mean_flush_ms).toBeGreaterThan(0)
    expect(mean_flush_ms).toBeGreaterThanOrEqual(Math.min(...lasts) - 0.01)
    expect(mean_flush_ms).toBeLessThanOrEqual(Math.max(...lasts) + 0.01)
  })

  test('when the wired updater flushes, then the service metrics count its batches and items by result', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 2, 'processing')
    const { updater, metrics } = t.services
    // Copies: the counter hands out its live values, and single writes count through this updater too.
    const itemsBefore = structuredClone(await metrics.updaterItems.get())
    const count = (values: typeof itemsBefore.values, result: string) =>
      values.find((v) => v.labels.result === result)?.value ?? 0

    const results = await submitAll(updater, tenant, [
      { status_id: ids[0]!, progress_percentage: 1 },
      { status_id: ids[0]!, progress_percentage: 2 },
      { status_id: ids[1]!, new_status: 'pending' },
    ])
    await updater.flush()
    await Promise.all(results)
    // A single command counts as applied.
    await updater.execute(tenant, ids[0]!, { type: 'update', input: { message: 'single' } })

    const itemsAfter = await metrics.updaterItems.get()
    expect(count(itemsAfter.values, 'applied') - count(itemsBefore.values, 'applied')).toBe(2)
    expect(count(itemsAfter.values, 'stale') - count(itemsBefore.values, 'stale')).toBe(1)
    expect(count(itemsAfter.values, 'error') - count(itemsBefore.values, 'error')).toBe(1)
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/^status_updater_flush_seconds_count [1-9]\d*$/m)
    // Seconds, not milliseconds: the flushes so far took well under a second each on average.
    const [, sum, flushCount] =
      /^status_updater_flush_seconds_sum (\S+)$[\s\S]*^status_updater_flush_seconds_count (\S+)$/m.exec(text)!
    expect(Number(sum)).toBeGreaterThan(0)
    expect(Number(sum) / Number(flushCount)).toBeLessThan(1)
    expect(text).toMatch(/^status_updater_batch_statuses_sum [1-9]\d*$/m)
    expect(text).toMatch(/^status_updater_queue_depth 0$/m)
  })
})

describe('batches racing single writes', () => {
  test('when single PUTs and batched updates hit the same statuses concurrently, then versions and event counts add up with no change lost', async () => {
    const tenant = await newTenant()
    const ids = await createStatuses(tenant, 3, 'processing')
    const updater = newUpdater({ batchSize: 4, flushMs: 1 })
    const rounds = 15

    const puts: Promise<{ id: string; version: number }>[] = []
    const batched: Promise<ItemResult>[] = []
    for (let i = 0; i < rounds; i++) {
      for (const id of ids) {
        puts.push(
          t.services.statuses
            .update(tenant, id, { message: `put ${i}` })
            .then(({ result }) => ({ id, version: result.status.version })),
        )
        batched.push(...(await submitAll(updater, tenant, [{ status_id: id, message: `batch ${i}` }])))
      }
      if (i % 3 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const putResults = await Promise.all(puts)
    const batchResults = await Promise.all(batched)

    expect(batchResults.every((r) => r.result === 'applied' || r.result === 'stale')).toBe(true)
    for (const id of ids) {
      const putVersions = putResults.filter((r) => r.id === id).map((r) => r.version)
      const batchVersions = new Set(
        batchResults.flatMap((r) => (r.result === 'applied' && r.status_id === id ? [r.version] : [])),
      )
      const final = await current(tenant, id)
      const events = await history(tenant, id)

      expect(putVersions).toHaveLength(rounds)
      expect(new Set(putVersions).size).toBe(rounds)
      expect(putVersions.filter((v) => batchVersions.has(v))).toEqual([])
      expect(final.version).toBe(1 + rounds + batchVersions.size)
      expect(events.map((e) => e.version)).toEqual(Array.from({ length: final.version }, (_, v) => v + 1))
      expect(events.at(-1)!.status).toEqual(asJson(final))
      const puts = events.filter((e) => /^put /.test(String(e.changes.message?.[1])))
      expect(puts.map((e) => e.version).sort((a, b) => a - b)).toEqual([...putVersions].sort((a, b) => a - b))
    }
    const seqs = (await feed(tenant)).map((e) => e.seq)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
  })
})

describe('single commands through the one writer', () => {
  const settled = (promises: Promise<unknown>[]) =>
    Promise.all(
      promises.map((p) =>
        p.then(
          (written) => ({ ok: true as const, written }),
          (err: AppError) => ({ ok: false as const, code: err.code }),
        ),
      ),
    )

  test('when mixed commands for one status arrive together, then one flush applies them in arrival order with their events', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    const id = 'mixed-1'

    const outcomes = await settled([
      updater.execute(tenant, id, { type: 'create', input: { status_id: id } }),
      updater.execute(tenant, id, { type: 'update', input: { new_status: 'processing' } }),
      updater.execute(tenant, id, { type: 'update', input: { progress_percentage: 40 }, expectedVersion: 2 }),
      updater.execute(tenant, id, { type: 'error', error: { message: 'flaky' }, shouldRetry: true }),
      updater.execute(tenant, id, { type: 'update', input: { new_status: 'processing' } }),
      updater.execute(tenant, id, { type: 'cancel' }),
    ])

    expect(outcomes.every((o) => o.ok)).toBe(true)
    expect(updater.stats().flushes).toBe(1)
    expect((await history(tenant, id)).map((e) => [e.type, e.version])).toEqual([
      ['status.created', 1],
      ['status.updated', 2],
      ['status.progress', 3],
      ['status.error', 4],
      ['status.updated', 5],
      ['status.cancelled', 6],
    ])
    expect(await current(tenant, id)).toMatchObject({ status: 'cancelled', version: 6, retry_count: 1 })
  })

  test('when a command breaks a rule beside good ones in the same flush, then it fails alone and the others apply', async () => {
    const tenant = await newTenant()
    const [a, b] = await createStatuses(tenant, 2, 'processing')
    const updater = newUpdater()

    const outcomes = await settled([
      updater.execute(tenant, a!, { type: 'update', input: { progress_percentage: 10 } }),
      updater.execute(tenant, a!, { type: 'update', input: { new_status: 'pending' } }),
      updater.execute(tenant, b!, { type: 'update', input: { message: 'x' }, expectedVersion: 7 }),
      updater.execute(tenant, 'no-such-status', { type: 'cancel' }),
      updater.execute(tenant, a!, { type: 'create', input: { status_id: a! } }),
      updater.execute(tenant, b!, { type: 'update', input: { progress_percentage: 20 } }),
      updater.execute(tenant, a!, { type: 'update', input: { progress_percentage: 30 } }),
    ])

    expect(outcomes.map((o) => (o.ok ? 'ok' : o.code))).toEqual([
      'ok',
      'invalid-transition',
      'version-mismatch',
      'status-not-found',
      'status-already-exists',
      'ok',
      'ok',
    ])
    expect(updater.stats().flushes).toBe(1)
    expect(await current(tenant, a!)).toMatchObject({ progress_percentage: 30, version: 3 })
    expect(await current(tenant, b!)).toMatchObject({ progress_percentage: 20, version: 2 })
  })

  // A flush updates only the columns that changed in any of its statuses: each status must keep its own
  // values in the columns only the others changed, and get every column it changed itself.
  test('when statuses in one flush change different columns, then each stored record is exactly its own result', async () => {
    const tenant = await newTenant()
    const [a, b, c] = await createStatuses(tenant, 3, 'processing')
    const updater = newUpdater()
    const before = await Promise.all([a!, b!, c!].map((id) => current(tenant, id)))

    const outcomes = await settled([
      updater.execute(tenant, a!, { type: 'update', input: { progress_percentage: 55 } }),
      updater.execute(tenant, b!, { type: 'update', input: { message: 'only b', metadata: { b: true } } }),
      updater.execute(tenant, c!, {
        type: 'error',
        error: { message: 'c broke', code: 'E_C' },
        shouldRetry: false,
      }),
    ])

    expect(updater.stats().flushes).toBe(1)
    const results = outcomes.map((o) => (o.ok ? (o.written as { result: unknown }).result : o.code))
    const stored = await Promise.all([a!, b!, c!].map((id) => current(tenant, id)))
    // An update answers { status: record, applied }, an error report the record itself.
    const records = results.map((r) => {
      const status = (r as { status?: unknown }).status
      return typeof status === 'object' ? status : r
    })
    expect(stored).toEqual(records)
    expect(stored[0]).toMatchObject({
      progress_percentage: 55,
      message: before[0].message,
      metadata: before[0].metadata,
    })
    expect(stored[1]).toMatchObject({
      message: 'only b',
      metadata: { b: true },
      progress_percentage: before[1].progress_percentage,
    })
    expect(stored[2]).toMatchObject({ status: 'failed', error_info: { message: 'c broke', code: 'E_C' } })
    expect(stored[2].message).toBe(before[2].message)
  })

  test('when one Idempotency-Key comes twice in one flush and again later, then the write happens once and the repeats replay it', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater()
    const same = { key: 'k-1', fingerprint: 'f-1' }
    const command = { type: 'update', input: { progress_percentage: 55 } } as const

    const [first, second, reused] = await settled([
      updater.execute(tenant, id!, command, same),
      updater.execute(tenant, id!, command, same),
      updater.execute(tenant, id!, { type: 'cancel' }, { key: 'k-1', fingerprint: 'other' }),
    ])
    const later = await updater.execute(tenant, id!, command, same)

    expect(first).toMatchObject({ ok: true, written: { replayed: false, result: { applied: true } } })
    expect(second).toMatchObject({ ok: true, written: { replayed: true } })
    expect(reused).toEqual({ ok: false, code: 'idempotency-key-reused' })
    expect(later.replayed).toBe(true)
    expect(asJson(later.result)).toEqual(asJson((first as { written: { result: unknown } }).written.result))
    expect((await history(tenant, id!)).map((e) => e.version)).toEqual([1, 2])
  })

  test('when a status is deleted and created again in one flush, then the new one is stored with its own creation time', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const before = await current(tenant, id!)
    const updater = newUpdater({ clock: () => new Date(before.created_at.getTime() + 60_000) })

    const outcomes = await settled([
      updater.execute(tenant, id!, { type: 'remove' }),
      updater.execute(tenant, id!, { type: 'create', input: { status_id: id!, message: 'again' } }),
    ])

    expect(outcomes.map((o) => o.ok)).toEqual([true, true])
    expect(await current(tenant, id!)).toMatchObject({
      version: 1,
      status: 'pending',
      message: 'again',
      created_at: new Date(before.created_at.getTime() + 60_000),
    })
    expect((await history(tenant, id!)).map((e) => e.type)).toEqual([
      'status.created',
      'status.deleted',
      'status.created',
    ])
  })

  test('when /batch items arrive while a single command is being written, then they keep their window and wait for the next flush', async () => {
    const tenant = await newTenant()
    const [a, b] = await createStatuses(tenant, 2, 'processing')
    const updater = newUpdater()

    const single = updater.execute(tenant, a!, { type: 'update', input: { message: 'now' } })
    await new Promise((resolve) => setImmediate(resolve))
    const [item] = await submitAll(updater, tenant, [{ status_id: b!, message: 'later' }])
    await single

    expect(await hasSettled(item!)).toBe(false)
    expect(updater.depth()).toBe(1)
    expect(await current(tenant, b!)).toMatchObject({ message: null, version: 1 })
    await updater.flush()
    expect(await item).toMatchObject({ result: 'applied', version: 2 })
  })

  test('when a command comes later, then it waits for the flush delay or a flush; after stop, commands are refused', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater({ maxQueue: 1 })
    const before = await current(tenant, id!)
    let answered = false
    const later = updater.later(tenant, id!, { type: 'heartbeat', input: { message: 'still here' } })
    void later.then(() => (answered = true))
    // A flush it started would have taken it off the queue in the turn after this one (an immediate
    // queued before ours runs before ours): it is still queued after that turn.
    await new Promise((resolve) => setImmediate(resolve))
    expect(updater.depth()).toBe(1)
    // The queue of one is full with it: a single command is refused.
    await expect(updater.execute(tenant, id!, { type: 'cancel' })).rejects.toMatchObject({
      code: 'queue-full',
    })
    expect(answered).toBe(false)
    expect(await current(tenant, id!)).toMatchObject({ version: before.version, message: before.message })
    await updater.flush()
    expect((await later).result.version).toBe(before.version + 1)
    expect(await current(tenant, id!)).toMatchObject({ message: 'still here' })

    await updater.stop()
    await expect(updater.execute(tenant, id!, { type: 'cancel' })).rejects.toMatchObject({
      code: 'shutting-down',
      status: 503,
      message: 'The service is shutting down',
    })
    await expect(updater.later(tenant, id!, { type: 'heartbeat', input: {} })).rejects.toMatchObject({
      code: 'shutting-down',
    })
  })

  test('when the queue is empty and holds one, then a single command is taken', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater({ maxQueue: 1 })
    expect((await updater.execute(tenant, id!, { type: 'cancel' })).result.status).toBe('cancelled')
  })

  test('when the queue is full, then a single command is refused with queue-full 503 and nothing is written', async () => {
    const tenant = await newTenant()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const updater = newUpdater({ maxQueue: 1 })
    const queued = await submitAll(updater, tenant, [{ status_id: id!, message: 'waiting' }])

    const refused = await thrown(() => updater.execute(tenant, id!, { type: 'cancel' }))
    await updater.flush()
    await Promise.all(queued)

    expect(refused).toMatchObject({
      code: 'queue-full',
      status: 503,
      message: 'The update queue is full; retry shortly',
    })
    expect(await current(tenant, id!)).toMatchObject({ status: 'processing', message: 'waiting' })
  })
})

describe('heartbeats, sweeps, logs and groups through the one writer', () => {
  const all = <T>(promises: Promise<T>[]) => Promise.all(promises)
  /** The tenant's feed with log events too, as [type, status_id] pairs after `afterSeq`. */
  const moves = async (tenant: string, afterSeq = 0) =>
    (await t.services.statuses.feed(tenant, { afterSeq, limit: 1000 })).items.map((e) => [
      e.type,
      e.status_id,
    ])
  const head = async (tenant: string) => (await feed(tenant)).at(-1)?.seq ?? 0

  test('when bare heartbeats arrive together, then they answer one time and leave version and feed alone; with progress, one is an update with its event', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const before = await current(tenant, id!)
    const seq = await head(tenant)

    const [a, b] = await all([
      updater.execute(tenant, id!, { type: 'heartbeat', input: {} }),
      updater.execute(tenant, id!, { type: 'heartbeat', input: {} }),
    ])
    expect(a.result).toEqual(b.result)
    expect(a.result).toMatchObject({ status_id: id, version: before.version })
    expect(a.result.last_heartbeat_at.getTime()).toBeGreaterThanOrEqual(before.updated_at.getTime())
    expect((await current(tenant, id!)).last_heartbeat_at).toEqual(a.result.last_heartbeat_at)
    expect(await moves(tenant, seq)).toEqual([])

    const withProgress = await updater.execute(tenant, id!, {
      type: 'heartbeat',
      input: { progress_percentage: 30, message: 'a third' },
    })
    expect(withProgress.result.version).toBe(before.version + 1)
    expect((await history(tenant, id!)).at(-1)).toMatchObject({
      type: 'status.progress',
      version: before.version + 1,
    })
    expect(await current(tenant, id!)).toMatchObject({ progress_percentage: 30, message: 'a third' })
    await expect(updater.execute(tenant, 'no-such', { type: 'heartbeat', input: {} })).rejects.toMatchObject({
      code: 'status-not-found',
    })
  })

  test('when a sweep finds a lapsed heartbeat, then it records heartbeat-timeout once; a sweep that is no longer due changes nothing', async () => {
    const tenant = await newTenant()
    const later = new Date(Date.now() + 3_600_000)
    const updater = newUpdater({ clock: () => later })
    const { result: made } = await t.services.statuses.create(tenant, {
      ...makeStatus(),
      status: 'processing',
      heartbeat_timeout_s: 1,
    })
    const swept = await updater.execute(tenant, made.status_id, { type: 'sweep' })
    expect(swept.result).toMatchObject({
      status: 'retry_pending',
      retry_count: 1,
      error_info: { code: 'heartbeat-timeout' },
    })
    const events = await history(tenant, made.status_id)
    expect(events.at(-1)).toMatchObject({ type: 'status.error', version: made.version + 1 })

    const seq = await head(tenant)
    const again = await updater.execute(tenant, made.status_id, { type: 'sweep' })
    expect(again.result).toBeNull()
    expect(await moves(tenant, seq)).toEqual([])
    expect((await current(tenant, made.status_id)).version).toBe(made.version + 1)
  })

  test('when log lines are appended in one flush, then they are kept in order with a status.log event each at the current version', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const at = new Date('2026-01-02T03:04:05.000Z')
    const [first, second] = await all([
      updater.execute(tenant, id!, {
        type: 'log',
        lines: [{ message: 'one' }, { message: 'two', level: 'warn', at }],
      }),
      updater.execute(tenant, id!, { type: 'log', lines: [{ message: 'three', fields: { n: 3 } }] }),
    ])
    expect([first.result, second.result]).toEqual([{ accepted: 2 }, { accepted: 1 }])
    expect(updater.stats().flushes).toBe(1)
    const kept = (await t.services.statuses.logs(tenant, id!, { limit: 10 })).items
    expect(kept.map((l) => [l.message, l.level])).toEqual([
      ['one', 'info'],
      ['two', 'warn'],
      ['three', 'info'],
    ])
    expect(kept[1]!.at).toEqual(at)
    expect(kept[2]!.fields).toEqual({ n: 3 })
    const logEvents = (await t.services.statuses.feed(tenant, { afterSeq: 0, limit: 100 })).items.filter(
      (e) => e.type === 'status.log',
    )
    expect(logEvents.map((e) => [e.version, 'lines' in e && e.lines.length])).toEqual([
      [1, 2],
      [1, 1],
    ])
    // Later writes to the status update its row: its lines stay.
    await updater.execute(tenant, id!, { type: 'update', input: { progress_percentage: 50 } })
    await updater.execute(tenant, id!, { type: 'heartbeat', input: {} })
    expect((await t.services.statuses.logs(tenant, id!, { limit: 10 })).items).toHaveLength(3)
    await expect(
      updater.execute(tenant, 'no-such', { type: 'log', lines: [{ message: 'x' }] }),
    ).rejects.toMatchObject({
      code: 'status-not-found',
    })
  })

  test('when a parent and its children are created and moved in one flush, then the parent is written once, its roll-up folded into its own event', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    const seq = await head(tenant)
    await all([
      updater.execute(tenant, 'p', { type: 'create', input: { status_id: 'p' } }),
      updater.execute(tenant, 'c1', {
        type: 'create',
        input: { status_id: 'c1', parent_id: 'p', weight: 3 },
      }),
      updater.execute(tenant, 'c2', { type: 'create', input: { status_id: 'c2', parent_id: 'p' } }),
    ])
    expect(updater.stats().flushes).toBe(1)
    const made = await current(tenant, 'p')
    expect(made).toMatchObject({
      version: 1,
      children: { total: 2, by_status: { pending: 2 }, progress_percentage: 0 },
    })
    expect(await moves(tenant, seq)).toEqual([
      ['status.created', 'c1'],
      ['status.created', 'c2'],
      ['status.created', 'p'],
    ])

    const mid = await head(tenant)
    await all([
      updater.execute(tenant, 'c1', {
        type: 'update',
        input: { new_status: 'processing', progress_percentage: 40 },
      }),
      updater.execute(tenant, 'c2', {
        type: 'update',
        input: { new_status: 'processing', progress_percentage: 80 },
      }),
    ])
    // The children's first start moves the parent to processing; progress is weighted 3:1.
    expect(await current(tenant, 'p')).toMatchObject({
      status: 'processing',
      version: 2,
      children: { total: 2, by_status: { processing: 2 }, progress_percentage: 50 },
    })
    expect(await moves(tenant, mid)).toEqual([
      ['status.updated', 'c1'],
      ['status.updated', 'c2'],
      ['status.updated', 'p'],
    ])
  })

  test('when a parent reports progress in the flush where its child starts it, then its one event is an update carrying both changes', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    await updater.execute(tenant, 'q', { type: 'create', input: { status_id: 'q' } })
    await updater.execute(tenant, 'k', { type: 'create', input: { status_id: 'k', parent_id: 'q' } })
    const seq = await head(tenant)
    await all([
      updater.execute(tenant, 'q', { type: 'update', input: { progress_percentage: 5 } }),
      updater.execute(tenant, 'k', {
        type: 'update',
        input: { new_status: 'processing', progress_percentage: 30 },
      }),
    ])
    const events = (await feed(tenant)).filter((e) => e.seq > seq && e.status_id === 'q')
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({
      type: 'status.updated',
      version: 3,
      changes: {
        progress_percentage: [0, 5],
        status: ['pending', 'processing'],
        children: [
          { total: 1, by_status: { pending: 1 }, progress_percentage: 0 },
          { total: 1, by_status: { processing: 1 }, progress_percentage: 30 },
        ],
      },
    })
  })

  test('when a child two levels down starts, then its parent and grandparent start in the same flush, deepest first', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    await updater.execute(tenant, 'g', { type: 'create', input: { status_id: 'g' } })
    await updater.execute(tenant, 'm', { type: 'create', input: { status_id: 'm', parent_id: 'g' } })
    await updater.execute(tenant, 'leaf', { type: 'create', input: { status_id: 'leaf', parent_id: 'm' } })
    const seq = await head(tenant)
    await updater.execute(tenant, 'leaf', {
      type: 'update',
      input: { new_status: 'processing', progress_percentage: 60 },
    })
    expect(await moves(tenant, seq)).toEqual([
      ['status.updated', 'leaf'],
      ['status.updated', 'm'],
      ['status.updated', 'g'],
    ])
    expect(await current(tenant, 'm')).toMatchObject({
      status: 'processing',
      children: { progress_percentage: 60 },
    })
    expect(await current(tenant, 'g')).toMatchObject({
      status: 'processing',
      children: { total: 1, by_status: { processing: 1 }, progress_percentage: 0 },
    })
  })

  test('when a parent is cancelled, then its live descendants are cancelled in the same flush; a terminal one is left as it is', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    await updater.execute(tenant, 'root', {
      type: 'create',
      input: { status_id: 'root', status: 'processing' },
    })
    await updater.execute(tenant, 'kid', { type: 'create', input: { status_id: 'kid', parent_id: 'root' } })
    await updater.execute(tenant, 'done', {
      type: 'create',
      input: { status_id: 'done', parent_id: 'root', status: 'processing' },
    })
    await updater.execute(tenant, 'done', { type: 'update', input: { new_status: 'completed' } })
    await updater.execute(tenant, 'grandkid', {
      type: 'create',
      input: { status_id: 'grandkid', parent_id: 'kid' },
    })
    const seq = await head(tenant)
    const flushes = updater.stats().flushes

    // In the same flush: the root's own update before its cancel, and a command for no status at all.
    const [, { result: cancelledRecord }, ghost] = await Promise.all([
      updater.execute(tenant, 'root', { type: 'update', input: { message: 'stopping' } }),
      updater.execute(tenant, 'root', { type: 'cancel' }),
      updater
        .execute(tenant, 'ghost', { type: 'update', input: { message: 'boo' } })
        .catch((err: AppError) => err.code),
    ])
    const cancelled = { result: cancelledRecord }
    expect(ghost).toBe('status-not-found')
    expect(updater.stats().flushes).toBe(flushes + 1)
    expect(cancelled.result).toMatchObject({
      status: 'cancelled',
      children: { by_status: { cancelled: 1, completed: 1 } },
    })
    expect((await moves(tenant, seq)).sort()).toEqual(
      [
        ['status.cancelled', 'grandkid'],
        ['status.cancelled', 'kid'],
        ['status.progress', 'root'],
        ['status.cancelled', 'root'],
      ].sort(),
    )
    expect((await current(tenant, 'done')).status).toBe('completed')
    expect((await current(tenant, 'grandkid')).status).toBe('cancelled')
  })

  test('when a delete under an Idempotency-Key is repeated, then the repeat replays it, though the status is gone', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    const [id] = await createStatuses(tenant, 1)
    const key = { key: 'delete-once', fingerprint: 'f' }
    expect(await updater.execute(tenant, id!, { type: 'remove' }, key)).toEqual({
      result: null,
      replayed: false,
    })
    expect(await updater.execute(tenant, id!, { type: 'remove' }, key)).toEqual({
      result: null,
      replayed: true,
    })
  })

  test('when /batch items come in the same turn as a single update of their status, then they do not merge into it', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const single = updater.execute(tenant, id!, { type: 'update', input: { progress_percentage: 10 } })
    const submitted = await updater.submit(tenant, [{ status_id: id!, progress_percentage: 20 }])
    await updater.flush()
    expect((await single).result.status).toMatchObject({ progress_percentage: 10, version: 2 })
    expect(await submitted.accepted[0]!.result).toEqual({ result: 'applied', status_id: id, version: 3 })
  })

  test('when stop begins while a submit looks its statuses up, then the submit is refused and nothing of it is queued', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    const [id] = await createStatuses(tenant, 1, 'processing')
    const submitting = updater.submit(tenant, [{ status_id: id!, progress_percentage: 5 }])
    const stopping = updater.stop()
    await expect(submitting).rejects.toMatchObject({ code: 'shutting-down' })
    await stopping
    expect(updater.depth()).toBe(0)
    expect((await current(tenant, id!)).progress_percentage).toBe(0)
  })

  test('when a parent is deleted, then without cascade it is has-children and stays; with cascade its tree goes, leaves first', async () => {
    const tenant = await newTenant()
    const updater = newUpdater()
    await updater.execute(tenant, 'top', { type: 'create', input: { status_id: 'top' } })
    await updater.execute(tenant, 'mid', { type: 'create', input: { status_id: 'mid', parent_id: 'top' } })
    await updater.execute(tenant, 'low', { type: 'create', input: { status_id: 'low', parent_id: 'mid' } })
    await expect(updater.execute(tenant, 'top', { type: 'remove' })).rejects.toMatchObject({
      code: 'has-children',
      status: 409,
    })
    await expect(updater.execute(tenant, 'mid', { type: 'remove', cascade: false })).rejects.toMatchObject({
      code: 'has-children',
    })
    expect((await current(tenant, 'top')).children).toMatchObject({ total: 1 })

    // A child and its own child deleted in one flush: the parent's count is what is left.
    const seq = await head(tenant)
    await all([
      updater.execute(tenant, 'low', { type: 'remove' }),
      updater.execute(tenant, 'mid', { type: 'remove' }),
    ])
    expect(await moves(tenant, seq)).toEqual([
      ['status.deleted', 'low'],
      ['status.deleted', 'mid'],
      ['status.progress', 'top'],
    ])
    expect((await current(tenant, 'top')).children).toBeNull()

    await updater.execute(tenant, 'a', { type: 'create', input: { status_id: 'a', parent_id: 'top' } })
    await updater.execute(tenant, 'b', { type: 'create', input: { status_id: 'b', parent_id: 'a' } })
    const before = await head(tenant)
    const removed = await updater.execute(tenant, 'top', { type: 'remove', cascade: true })
    expect(removed.result).toBeNull()
    expect(await moves(tenant, before)).toEqual([
      ['status.deleted', 'b'],
      ['status.deleted', 'a'],
      ['status.deleted', 'top'],
    ])
    for (const id of ['top', 'a', 'b'])
      await expect(current(tenant, id)).rejects.toMatchObject({ code: 'status-not-found' })
  })
})
