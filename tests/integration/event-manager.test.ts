import { createEventRepository } from '../../src/db/event-repository'
import { openDatabase, type Database } from '../../src/db/prisma'
import type { StatusEvent } from '../../src/domain/status-record'
import { createServices, type ServiceOptions, type Services } from '../../src/services'
import pino from 'pino'
import {
  createStatusEventManager,
  type CloseReason,
  type EventSink,
} from '../../src/services/status-event-manager'
import { createSinkLeases } from '../../src/services/sink-leases'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'
import { range, sleep, until } from '../helpers/wait'

jest.setTimeout(60_000)

let store: TestDatabase
let cleanups: (() => Promise<void>)[] = []

beforeEach(async () => {
  store = await createTestDatabase('events')
})

afterEach(async () => {
  // Taken first, so a cleanup that fails is not run again after the next test.
  const pending = cleanups.reverse()
  cleanups = []
  for (const cleanup of pending) await cleanup()
  await store.drop()
})

const fileUrl = () => store.url

// Longer than any test here waits for anything: only a released lease or a moved clock frees one.
const LEASE_MS = 120_000

interface Opened {
  db: Database
  services: Services
}

/**
 * Services over the test's database, as one instance would run them; `sinks` are added before the
 * manager starts (unless `start` is false). With `db`, they share that handle (closed by its opener).
 */
async function open(
  options: {
    events?: ServiceOptions['eventManager']
    sinks?: EventSink[]
    start?: boolean
    clock?: () => Date
    db?: Database
  } = {},
): Promise<Opened> {
  const db = options.db ?? (await openDatabase({ url: fileUrl() }))
  const services = await createServices({ db, eventManager: options.events, clock: options.clock })
  for (const sink of options.sinks ?? []) services.eventManager.addSink(sink)
  if (options.start !== false) await services.eventManager.start()
  cleanups.push(() => services.stop({ keepStore: options.db !== undefined }))
  return { db, services }
}

interface Delivery {
  tenantId: string
  seqs: number[]
}

/** A sink that remembers every call and every event it was handed; `fail` decides whether a call throws. */
function recordingSink(
  name = 'recorder',
  options: { durable?: boolean; fail?: (batch: StatusEvent[]) => Error | undefined } = {},
) {
  const calls: Delivery[] = []
  const received: (StatusEvent & { tenantId: string })[] = []
  const failures: Delivery[] = []
  const sink: EventSink = {
    name,
    durable: options.durable ?? false,
    deliver(tenantId, batch) {
      const call = { tenantId, seqs: batch.map((event) => event.seq) }
      const error = options.fail?.(batch)
      if (error) {
        failures.push(call)
        throw error
      }
      calls.push(call)
      for (const event of batch) received.push({ ...event, tenantId })
    },
  }
  return {
    sink,
    calls,
    failures,
    received,
    seqsOf: (tenantId: string) => received.filter((e) => e.tenantId === tenantId).map((e) => e.seq),
  }
}

/** A logger that keeps every line it writes, parsed. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  return { logger, lines }
}

let statusCounter = 0

/** Creates a tenant (through a key) and returns writers for it. */
async function tenantOf(services: Services, name: string) {
  await services.apiKeys.create(name, ['status:read', 'status:write'])
  return {
    name,
    async create(overrides: { status?: 'pending' | 'processing'; priority?: 'low' | 'high' } = {}) {
      statusCounter += 1
      const id = `job-${statusCounter}`
      await services.statuses.create(name, { status_id: id, kind: 'video.transcode', ...overrides })
      return id
    },
    async progress(id: string, progress: number) {
      await services.statuses.update(name, id, { progress_percentage: progress })
    },
    /** Every stored event of the tenant, as the feed serves it. */
    async stored(): Promise<StatusEvent[]> {
      return (await services.statuses.feed(name, { afterSeq: 0, limit: 10_000 })).items
    },
  }
}

/** Real time, moved on by `advance` (for one instance only: its view of when leases run out). */
function movableClock() {
  let offsetMs = 0
  return {
    now: () => new Date(Date.now() + offsetMs),
    advance: (ms: number) => void (offsetMs += ms),
  }
}

/** The stored checkpoint of `sink` for `tenantId`, with its lease. */
const checkpointOf = async (db: Database, sink: string, tenantId: string) =>
  (await createEventRepository(db).checkpoints(sink)).get(tenantId)

const increasing = (seqs: number[]) => seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!)

const wire = (events: StatusEvent[]) => JSON.parse(JSON.stringify(events)) as unknown[]
const withoutTenant = (events: (StatusEvent & { tenantId: string })[]) =>
  events.map(({ tenantId: _tenant, ...event }) => event)

describe('delivery to sinks', () => {
  test('when two tenants write concurrently, then a sink receives each tenant’s events in seq order exactly as committed', async () => {
    const recorder = recordingSink()
    const { services } = await open({ sinks: [recorder.sink] })
    const a = await tenantOf(services, 'tenant-a')
    const b = await tenantOf(services, 'tenant-b')

    await Promise.all(
      [a, b].flatMap((tenant) =>
        range(1, 20).map(async (n) => {
          const id = await tenant.create()
          await tenant.progress(id, n)
        }),
      ),
    )

    await until(async () => recorder.received.length >= 80, 'all 80 events reached the sink')
    for (const tenant of [a, b]) {
      const stored = await tenant.stored()
      expect(stored.map((e) => e.seq)).toEqual(range(1, 40))
      const delivered = withoutTenant(recorder.received.filter((e) => e.tenantId === tenant.name))
      expect(wire(delivered)).toEqual(wire(stored))
    }
    for (const call of recorder.calls) {
      expect(call.seqs).toEqual(range(call.seqs[0]!, call.seqs[0]! + call.seqs.length - 1))
    }
    expect(recorder.received).toHaveLength(80)
  })

  test('when a sink throws, then it is retried with exponential backoff until it succeeds while another sink is not held up', async () => {
    let failing = true
    const flaky = recordingSink('flaky', {
      fail: () => (failing ? new Error('receiver unavailable') : undefined),
    })
    const steady = recordingSink('steady')
    // An odd base, so the retry timers can be told apart from every other timer in the process.
    const backoffBaseMs = 37
    const timers = jest.spyOn(global, 'setTimeout')
    try {
      const { services } = await open({
        events: { backoffBaseMs, maxAttempts: 20 },
        sinks: [flaky.sink, steady.sink],
      })
      const tenant = await tenantOf(services, 'tenant-a')
      for (let n = 0; n < 3; n++) await tenant.create()

      await until(async () => flaky.failures.length >= 3, 'the flaky sink failed three times')
      await until(async () => steady.received.length === 3, 'the steady sink received all three events')
      expect(flaky.received).toHaveLength(0)

      // More events while the flaky sink is backing off still reach the steady one.
      await tenant.create()
      await until(async () => steady.received.length === 4, 'the steady sink received the fourth event')

      failing = false
      await until(async () => flaky.received.length === 4, 'the flaky sink caught up')
      expect(flaky.seqsOf('tenant-a')).toEqual([1, 2, 3, 4])
      expect(steady.seqsOf('tenant-a')).toEqual([1, 2, 3, 4])
      // Every failed call was a retry of the first undelivered event.
      for (const failure of flaky.failures) expect(failure.seqs[0]).toBe(1)
      const retryDelays = timers.mock.calls
        .map(([, delay]) => delay)
        .filter((delay): delay is number => typeof delay === 'number' && delay % backoffBaseMs === 0)
      expect(retryDelays.slice(0, 3)).toEqual([backoffBaseMs, backoffBaseMs * 2, backoffBaseMs * 4])
      expect(retryDelays).toHaveLength(flaky.failures.length)
      expect((await services.eventManager.stats()).dead_lettered_total).toBe(0)
    } finally {
      timers.mockRestore()
    }
  })

  test('when a sink always throws, then after maxAttempts the events are dead-lettered with the error and the sink moves on', async () => {
    const broken = recordingSink('broken', {
      fail: (batch) => new Error(`cannot take seq ${batch[0]!.seq}`),
    })
    const { db, services } = await open({
      events: { maxAttempts: 3, backoffBaseMs: 5 },
      sinks: [broken.sink],
    })
    const tenant = await tenantOf(services, 'tenant-a')
    const repository = createEventRepository(db)

    await tenant.create()
    await until(
      async () => (await repository.deadLetters('broken')).length === 1,
      'the first event was dead-lettered',
    )
    await tenant.create()
    await until(
      async () => (await repository.deadLetters('broken')).length === 2,
      'the second event was dead-lettered too',
    )

    const stored = await tenant.stored()
    const letters = await repository.deadLetters('broken')
    expect(letters).toEqual([
      expect.objectContaining({
        sink: 'broken',
        tenantId: 'tenant-a',
        seq: 1,
        eventId: stored[0]!.event_id,
        error: 'cannot take seq 1',
        attempts: 3,
      }),
      expect.objectContaining({
        seq: 2,
        eventId: stored[1]!.event_id,
        error: 'cannot take seq 2',
        attempts: 3,
      }),
    ])
    expect(broken.failures.map((f) => f.seqs)).toEqual([[1], [1], [1], [2], [2], [2]])
    expect(await db.read.deadLetter.count({ where: { sink: 'broken' } })).toBe(2)
    expect(await services.eventManager.stats()).toMatchObject({ dead_lettered_total: 2, lag: 0 })
  })

  test('when only some events make a sink throw, then those are dead-lettered and later events are delivered', async () => {
    const picky = recordingSink('picky', {
      fail: (batch) =>
        batch.some((event) => event.type !== 'status.log' && event.status.priority === 'high')
          ? new Error('no high priority here')
          : undefined,
    })
    const { db, services } = await open({
      events: { maxAttempts: 2, backoffBaseMs: 5 },
      sinks: [picky.sink],
    })
    const tenant = await tenantOf(services, 'tenant-a')

    await tenant.create({ priority: 'high' })
    await until(async () => (await db.read.deadLetter.count()) === 1, 'the poison event was dead-lettered')
    await tenant.create({ priority: 'low' })
    await tenant.create({ priority: 'low' })

    await until(async () => picky.received.length === 2, 'the later events were delivered')
    expect(picky.seqsOf('tenant-a')).toEqual([2, 3])
    const [letter] = await db.read.deadLetter.findMany()
    expect(letter).toMatchObject({ sink: 'picky', seq: 1n, error: 'no high priority here', attempts: 2 })
  })

  test('when a durable sink’s process crashes and a new manager opens the same database, then it resumes after its checkpoint once the lease runs out', async () => {
    // The first "process": delivers seq 1-3, then hangs inside the delivery of the next events.
    let hang: (err: Error) => void = () => undefined
    const first = recordingSink('archive', { durable: true })
    const hangingSink: EventSink = {
      name: 'archive',
      durable: true,
      deliver(tenantId, batch) {
        if (batch[0]!.seq > 3) return new Promise<void>((_resolve, reject) => (hang = reject))
        return first.sink.deliver(tenantId, batch)
      },
    }
    const db1 = await openDatabase({ url: fileUrl() })
    const services1 = await createServices({
      db: db1,
      eventManager: { pollMs: 20, maxAttempts: 100, leaseMs: LEASE_MS },
    })
    services1.eventManager.addSink(hangingSink)
    await services1.eventManager.start()
    const tenant = await tenantOf(services1, 'tenant-a')
    for (let n = 0; n < 3; n++) await tenant.create()
    await until(
      async () => (await checkpointOf(db1, 'archive', 'tenant-a'))?.lastSeq === 3,
      'the checkpoint reached seq 3',
    )
    for (let n = 0; n < 2; n++) await tenant.create()
    await until(
      async () => (await services1.eventManager.stats()).lag === 2,
      'the delivery of seq 4-5 is in flight',
    )

    // The "restart": another manager on the same database, as a new process would build it. The dead
    // process's lease still runs: the new one waits for it rather than relaying the tenant twice.
    const clock = movableClock()
    const second = recordingSink('archive', { durable: true })
    await open({ clock: clock.now, events: { pollMs: 20, leaseMs: LEASE_MS }, sinks: [second.sink] })
    await sleep(200)
    expect(second.received).toEqual([])

    clock.advance(LEASE_MS)
    await until(
      () => second.received.length >= 2,
      'the new manager delivered the events after the checkpoint',
    )
    expect(first.seqsOf('tenant-a')).toEqual([1, 2, 3])
    expect(second.seqsOf('tenant-a')).toEqual([4, 5])
    await until(
      async () => (await checkpointOf(db1, 'archive', 'tenant-a'))?.lastSeq === 5,
      'the new manager advanced the checkpoint',
    )

    // End the first "process" for good: its stuck delivery fails and is never checkpointed.
    hang(new Error('process died'))
    await services1.stop()
  })

  test('when a durable sink has no checkpoint, then it starts from the first stored event while a non-durable one starts at the head', async () => {
    const { services } = await open()
    const tenant = await tenantOf(services, 'tenant-a')
    for (let n = 0; n < 3; n++) await tenant.create()

    const durable = recordingSink('archive', { durable: true })
    const transient = recordingSink('transient')
    const { services: restarted } = await open({ sinks: [durable.sink, transient.sink] })
    await until(async () => durable.received.length === 3, 'the durable sink received the stored events')
    await tenantOf(restarted, 'tenant-a').then((t) => t.create())

    await until(
      () => durable.received.length === 4 && transient.received.length === 1,
      'the new event arrived',
    )
    expect(durable.seqsOf('tenant-a')).toEqual([1, 2, 3, 4])
    expect(transient.seqsOf('tenant-a')).toEqual([4])
  })

  test('when several sinks are at the same point, then the outbox is read once for all of them: one heads read a pass and each page once', async () => {
    const { services: writer, db } = await open({ start: false })
    const tenant = await tenantOf(writer, 'tenant-a')
    for (let n = 0; n < 30; n++) await tenant.create()

    // The real repository, with its reads counted.
    const repository = createEventRepository(db)
    const reads = { heads: 0, pages: [] as string[] }
    const counted: typeof repository = {
      ...repository,
      heads: () => (reads.heads++, repository.heads()),
      after: (tenantId, afterSeq, limit) => (
        reads.pages.push(`${tenantId}@${afterSeq}`),
        repository.after(tenantId, afterSeq, limit)
      ),
    }
    // Durable sinks start from the first stored event, so start() alone delivers all 30; the poll never fires.
    const first = recordingSink('first', { durable: true })
    const second = recordingSink('second', { durable: true })
    const manager = createStatusEventManager({
      eventRepository: counted,
      logger: pino({ level: 'silent' }),
      batchSize: 10,
      pollMs: 600_000,
      leaseMs: LEASE_MS,
    })
    manager.addSink(first.sink)
    manager.addSink(second.sink)
    cleanups.push(() => manager.stop())
    await manager.start()

    await until(
      () => first.received.length === 30 && second.received.length === 30,
      'both sinks received all 30 events',
    )
    expect(first.seqsOf('tenant-a')).toEqual(range(1, 30))
    expect(second.seqsOf('tenant-a')).toEqual(range(1, 30))
    expect(reads.pages).toEqual(['tenant-a@0', 'tenant-a@10', 'tenant-a@20'])
    // One in start() for the cursors, one for the pass the three sinks (the live one included) share.
    expect(reads.heads).toBe(2)
  })

  test('when notify() is called, then new events are delivered without waiting for the poll', async () => {
    const recorder = recordingSink()
    // A poll this slow never fires during the test: only notify() can deliver.
    const { services } = await open({ events: { pollMs: 600_000 }, sinks: [recorder.sink] })
    const tenant = await tenantOf(services, 'tenant-a')

    // Written on another connection, which does not notify this manager.
    const { services: other } = await open({ start: false })
    await tenantOf(other, 'tenant-a').then((t) => t.create())
    services.eventManager.notify()
    services.eventManager.notify()

    await until(async () => recorder.received.length === 1, 'the event was delivered')
    // In-process writes notify by themselves.
    await tenant.create()
    await until(async () => recorder.received.length === 2, 'the in-process write was delivered')
    expect(recorder.seqsOf('tenant-a')).toEqual([1, 2])
  })

  test('when another process writes events on its own connection, then polling picks them up', async () => {
    const recorder = recordingSink()
    const { services } = await open({ events: { pollMs: 20 }, sinks: [recorder.sink] })
    await tenantOf(services, 'tenant-a')

    // A second connection with its own services, whose manager never runs.
    const { services: writer } = await open({ start: false })
    const tenant = await tenantOf(writer, 'tenant-a')
    for (let n = 0; n < 5; n++) await tenant.create()

    await until(async () => recorder.received.length === 5, 'the other connection’s events were delivered')
    expect(wire(withoutTenant(recorder.received))).toEqual(wire(await tenant.stored()))
  })

  test('when notify() comes before start(), or stop() without start(), then nothing is delivered: a sink still starts at the head', async () => {
    const { services: writer, db } = await open({ start: false })
    const tenant = await tenantOf(writer, 'tenant-a')
    for (let n = 0; n < 3; n++) await tenant.create()
    const manager = () => {
      const recorder = recordingSink()
      const events = createStatusEventManager({
        eventRepository: createEventRepository(db),
        logger: pino({ level: 'silent' }),
        pollMs: 10,
      })
      events.addSink(recorder.sink)
      cleanups.push(() => events.stop())
      return { recorder, events }
    }

    // Never started, it has no cursors: stopping has nothing to deliver.
    const idle = manager()
    await idle.events.stop()
    expect(idle.recorder.received).toEqual([])

    const early = manager()
    early.events.notify()
    await new Promise((resolve) => setImmediate(resolve))
    await early.events.start()
    await tenant.create()
    await until(() => early.recorder.received.length >= 1, 'the new event arrived')
    expect(early.recorder.seqsOf('tenant-a')).toEqual([4])
  })

  test('when deliveries fail, then each retry is logged as a warning and the dead-lettering as an error, naming the sink and the tenant', async () => {
    const { services: writer, db } = await open({ start: false })
    await (await tenantOf(writer, 'tenant-a')).create()
    const { logger, lines } = capturingLogger()
    const manager = createStatusEventManager({
      eventRepository: createEventRepository(db),
      logger,
      pollMs: 10,
      maxAttempts: 2,
      backoffBaseMs: 5,
      leaseMs: LEASE_MS,
    })
    manager.addSink(recordingSink('flaky', { durable: true, fail: () => new Error('down') }).sink)
    cleanups.push(() => manager.stop())
    await manager.start()

    await until(async () => (await manager.stats()).dead_lettered_total === 1, 'the event was dead-lettered')
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        sink: 'flaky',
        tenantId: 'tenant-a',
        attempt: 1,
        err: expect.objectContaining({ message: 'down' }),
        msg: 'event delivery failed, will retry',
      }),
    )
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        sink: 'flaky',
        tenantId: 'tenant-a',
        events: 1,
        err: expect.objectContaining({ message: 'down' }),
        msg: 'event delivery failed for good, dead-lettering',
      }),
    )
  })

  test('when the store fails under the manager, then the failed pass, the failed final delivery and the failed release of leases are logged, and stop() still returns', async () => {
    const { services: writer, db } = await open({ start: false })
    await (await tenantOf(writer, 'tenant-a')).create()
    const repository = createEventRepository(db)
    let broken = false
    const failing: typeof repository = {
      ...repository,
      heads: () => (broken ? Promise.reject(new Error('store gone')) : repository.heads()),
      releaseCheckpoints: () => Promise.reject(new Error('store gone')),
    }
    const { logger, lines } = capturingLogger()
    const archive = recordingSink('archive', { durable: true })
    const manager = createStatusEventManager({
      eventRepository: failing,
      logger,
      pollMs: 10,
      leaseMs: LEASE_MS,
    })
    manager.addSink(archive.sink)
    cleanups.push(() => manager.stop())
    await manager.start()
    await until(() => archive.received.length === 1, 'the archive received the event')

    broken = true
    const logged = (msg: string) =>
      expect.objectContaining({
        level: 50,
        sink: 'archive',
        err: expect.objectContaining({ message: 'store gone' }),
        msg,
      })
    await until(
      () => lines.some((line) => line.msg === 'event pump failed' && line.sink === 'archive'),
      'a failed pass was logged',
    )
    expect(lines).toContainEqual(logged('event pump failed'))
    await manager.stop()
    expect(lines).toContainEqual(logged('final delivery failed'))
    expect(lines).toContainEqual(logged('releasing relay leases failed'))
  })

  test('when addSink is called after start, then it throws', async () => {
    const { services } = await open()
    expect(() => services.eventManager.addSink(recordingSink().sink)).toThrow('Add sinks before start()')
  })

  test('when start() is called twice, then events are still delivered once', async () => {
    const recorder = recordingSink()
    const { services } = await open({ sinks: [recorder.sink] })
    await services.eventManager.start()
    const tenant = await tenantOf(services, 'tenant-a')
    await tenant.create()
    await tenant.create()
    await until(
      async () => (await services.eventManager.stats()).lag === 0 && recorder.received.length >= 2,
      'delivered',
    )
    expect(recorder.seqsOf('tenant-a')).toEqual([1, 2])
  })
})

// Instances on one database, each with a durable sink of the same name: leases on the checkpoint rows
// decide which one relays a tenant to it. They share one database handle: in one process, a second
// SQLite connection waiting for the write lock would block the event loop, and with it the holder.
describe('several instances', () => {
  test('when two instances relay a durable sink, then each event reaches it through exactly one of them, in order, while a non-durable sink gets every event on both', async () => {
    const archives = [
      recordingSink('archive', { durable: true }),
      recordingSink('archive', { durable: true }),
    ]
    const transients = [recordingSink('transient'), recordingSink('transient')]
    const instances: Opened[] = []
    for (const [n, archive] of archives.entries()) {
      const sinks = [archive.sink, transients[n]!.sink]
      instances.push(await open({ db: instances[0]?.db, events: { pollMs: 20 }, sinks }))
    }
    const tenants = ['tenant-a', 'tenant-b', 'tenant-c', 'tenant-d']
    const writers = []
    for (const { services } of instances)
      for (const name of tenants) writers.push(await tenantOf(services, name))

    // Every tenant written through both instances at once.
    await Promise.all(
      writers.map(async (writer) => {
        await writer.create()
        await writer.create()
      }),
    )

    const total = writers.length * 2
    await until(
      async () =>
        archives.reduce((n, archive) => n + archive.received.length, 0) >= total &&
        (
          await Promise.all(instances.map(async ({ services }) => (await services.eventManager.stats()).lag))
        ).every((lag) => lag === 0),
      'both instances are done with every event',
    )
    for (const name of tenants) {
      const [first, second] = archives.map((archive) => archive.seqsOf(name))
      expect([...first!, ...second!].sort((a, b) => a - b)).toEqual(range(1, 4))
      expect(increasing(first!) && increasing(second!)).toBe(true)
      for (const transient of transients) expect(transient.seqsOf(name)).toEqual(range(1, 4))
    }
    // A lease each, and nothing else: the stored checkpoints are at the heads and no tenant is relayed twice.
    const held = await Promise.all(
      instances.map(async ({ services }) => (await services.eventManager.stats()).leases),
    )
    expect(held[0]! + held[1]!).toBe(tenants.length)
    // A relay moves its cursor once the sink has the batch and saves the checkpoint just after.
    await until(
      async () =>
        (await Promise.all(tenants.map((name) => checkpointOf(instances[0]!.db, 'archive', name)))).every(
          (checkpoint) => checkpoint?.lastSeq === 4,
        ),
      'every checkpoint is stored at the head',
    )
  })

  test('when a lagging former holder finishes a delivery after another instance took over, then its checkpoint is refused and it stops relaying the tenant', async () => {
    // Instance A delivers seq 1-3, then stalls inside the delivery of seq 4 with its lease unrenewed.
    const a = recordingSink('archive', { durable: true })
    let finish: (() => void) | undefined
    const stalling: EventSink = {
      name: 'archive',
      durable: true,
      async deliver(tenantId, batch) {
        if (batch[0]!.seq === 4) await new Promise<void>((resolve) => (finish = resolve))
        return a.sink.deliver(tenantId, batch)
      },
    }
    const first = await open({ events: { pollMs: 20, leaseMs: LEASE_MS }, sinks: [stalling] })
    cleanups.push(async () => finish?.())
    const viaFirst = await tenantOf(first.services, 'tenant-a')
    for (let n = 0; n < 3; n++) await viaFirst.create()
    await until(async () => a.received.length === 3, 'A delivered seq 1-3')
    await viaFirst.create()
    await until(() => finish !== undefined, 'A is stuck delivering seq 4')

    // Instance B, whose clock says A's lease has run out: it takes over from the stored seq 3.
    const clock = movableClock()
    const b = recordingSink('archive', { durable: true })
    const second = await open({
      db: first.db,
      clock: clock.now,
      events: { pollMs: 20, leaseMs: LEASE_MS },
      sinks: [b.sink],
    })
    clock.advance(LEASE_MS)
    const viaSecond = await tenantOf(second.services, 'tenant-a')
    for (let n = 0; n < 2; n++) await viaSecond.create()
    await until(async () => b.received.length === 3, 'B delivered seq 4-6')
    await until(
      async () => (await checkpointOf(first.db, 'archive', 'tenant-a'))?.lastSeq === 6,
      'B stored seq 6',
    )

    // A comes back and finishes seq 4: at least once, but its checkpoint must not take the row back.
    finish!()
    await until(
      async () => (await first.services.eventManager.stats()).leases === 0,
      'A noticed it lost the lease',
    )
    expect(await checkpointOf(first.db, 'archive', 'tenant-a')).toMatchObject({ lastSeq: 6 })

    await viaFirst.create()
    await until(async () => b.received.length === 4, 'B delivered seq 7')
    await until(
      async () => (await checkpointOf(first.db, 'archive', 'tenant-a'))?.lastSeq === 7,
      'B stored seq 7',
    )
    // A had a poll or two in the meantime; it must not have taken seq 7.
    await sleep(200)
    expect(a.seqsOf('tenant-a')).toEqual([1, 2, 3, 4])
    expect(b.seqsOf('tenant-a')).toEqual([4, 5, 6, 7])
  })

  test('when the holder stops, then it releases its leases and the other instance continues at once from the stored checkpoint', async () => {
    const a = recordingSink('archive', { durable: true })
    const b = recordingSink('archive', { durable: true })
    const first = await open({ events: { pollMs: 20, leaseMs: LEASE_MS }, sinks: [a.sink] })
    const viaFirst = await tenantOf(first.services, 'tenant-a')
    for (let n = 0; n < 3; n++) await viaFirst.create()
    await until(async () => a.received.length === 3, 'A delivered seq 1-3')
    const second = await open({ db: first.db, events: { pollMs: 20, leaseMs: LEASE_MS }, sinks: [b.sink] })

    await first.services.eventManager.stop()
    await first.services.eventManager.stop()

    expect(await checkpointOf(second.db, 'archive', 'tenant-a')).toEqual({
      lastSeq: 3,
      lockedBy: null,
      lockedUntil: null,
    })
    const viaSecond = await tenantOf(second.services, 'tenant-a')
    for (let n = 0; n < 2; n++) await viaSecond.create()
    await until(async () => b.received.length === 2, 'B delivered seq 4-5')
    // The checkpoint is saved once the sink's delivery has returned, so a moment after it saw the events.
    await until(
      async () => (await checkpointOf(second.db, 'archive', 'tenant-a'))?.lastSeq === 5,
      'B stored seq 5',
    )
    expect(a.seqsOf('tenant-a')).toEqual([1, 2, 3])
    expect(b.seqsOf('tenant-a')).toEqual([4, 5])
  })
})

// One durable sink's leases (sink-leases.ts) as two instances hold them, driven step by step: each take()
// and hold() is a call of the test, at a time of a clock only the test moves, on the test's database.
describe('relay leases', () => {
  const T0 = Date.parse('2030-01-01T00:00:00.000Z')
  const at = (ms: number) => new Date(T0 + ms)

  async function leases() {
    const db = await openDatabase({ url: fileUrl() })
    cleanups.push(() => db.close())
    const eventRepository = createEventRepository(db)
    let now = T0
    const logs: Record<string, unknown>[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
    const instance = (owner: string) =>
      createSinkLeases('archive', {
        eventRepository,
        logger,
        clock: () => new Date(now),
        leaseMs: LEASE_MS,
        owner,
      })
    // What a pass hands take(): the stored checkpoint, with the reads counted.
    const reads = { stored: 0 }
    const stored = async (tenantId: string) => {
      reads.stored += 1
      return (await eventRepository.checkpoints('archive')).get(tenantId)
    }
    return {
      a: instance('instance-a'),
      b: instance('instance-b'),
      eventRepository,
      stored,
      reads,
      logs,
      moveTo: (ms: number) => void (now = T0 + ms),
      checkpoint: () => checkpointOf(db, 'archive', 'tenant-a'),
    }
  }

  test('when an instance holds a lease with more than half of it left, then it relays on without reading the checkpoint; from half-time on it renews the lease; count() drops it when it runs out', async () => {
    const { a, stored, reads, moveTo, checkpoint } = await leases()

    expect(await a.take('tenant-a', 5, stored)).toEqual({ relay: true, cursor: 0 })
    expect(await checkpoint()).toEqual({ lastSeq: 0, lockedBy: 'instance-a', lockedUntil: at(LEASE_MS) })
    expect(reads.stored).toBe(1)

    moveTo(LEASE_MS / 2 - 1)
    expect(await a.take('tenant-a', 5, stored)).toEqual({ relay: true })
    expect(reads.stored).toBe(1)

    moveTo(LEASE_MS / 2)
    expect(await a.take('tenant-a', 5, stored)).toEqual({ relay: true, cursor: 0 })
    expect(reads.stored).toBe(2)
    const renewed = LEASE_MS / 2 + LEASE_MS
    expect(await checkpoint()).toMatchObject({ lockedBy: 'instance-a', lockedUntil: at(renewed) })

    moveTo(renewed - 1)
    expect(a.count()).toBe(1)
    moveTo(renewed)
    expect(a.count()).toBe(0)
  })

  test('when another instance holds the lease, then the tenant is skipped at the stored checkpoint until that lease runs out, and taken the moment it does; the former holder’s next hold() is refused', async () => {
    const { a, b, stored, logs, moveTo, checkpoint } = await leases()
    expect(await a.take('tenant-a', 5, stored)).toEqual({ relay: true, cursor: 0 })
    expect(await a.hold('tenant-a', 3)).toBe(true)

    moveTo(LEASE_MS - 1)
    expect(await b.take('tenant-a', 5, stored)).toEqual({ relay: false, cursor: 3 })
    expect(await checkpoint()).toEqual({ lastSeq: 3, lockedBy: 'instance-a', lockedUntil: at(LEASE_MS) })
    expect(b.count()).toBe(0)

    moveTo(LEASE_MS)
    expect(await b.take('tenant-a', 5, stored)).toEqual({ relay: true, cursor: 3 })
    expect(await checkpoint()).toEqual({ lastSeq: 3, lockedBy: 'instance-b', lockedUntil: at(2 * LEASE_MS) })
    expect(b.count()).toBe(1)

    expect(await a.hold('tenant-a', 5)).toBe(false)
    expect(await checkpoint()).toMatchObject({ lastSeq: 3, lockedBy: 'instance-b' })
    expect(logs).toContainEqual(
      expect.objectContaining({
        sink: 'archive',
        tenantId: 'tenant-a',
        msg: 'relay lease lost, another instance continues',
      }),
    )
  })

  test('when an instance dropped a lease it still holds in the row, then it takes it back from the stored checkpoint; once released, a row at the head is skipped without a write', async () => {
    const { a, b, stored, reads, moveTo, checkpoint } = await leases()
    expect(await a.take('tenant-a', 3, stored)).toEqual({ relay: true, cursor: 0 })
    expect(await a.hold('tenant-a', 2)).toBe(true)

    a.drop('tenant-a')
    expect(a.count()).toBe(0)
    moveTo(1)
    expect(await a.take('tenant-a', 3, stored)).toEqual({ relay: true, cursor: 2 })
    expect(reads.stored).toBe(2)
    expect(await checkpoint()).toEqual({ lastSeq: 2, lockedBy: 'instance-a', lockedUntil: at(1 + LEASE_MS) })
    expect(await a.hold('tenant-a', 3)).toBe(true)

    await a.release()
    expect(a.count()).toBe(0)
    expect(await checkpoint()).toEqual({ lastSeq: 3, lockedBy: null, lockedUntil: null })
    expect(await b.take('tenant-a', 3, stored)).toEqual({ relay: false, cursor: 3 })
    expect(await checkpoint()).toEqual({ lastSeq: 3, lockedBy: null, lockedUntil: null })
    expect(await b.take('tenant-a', 4, stored)).toEqual({ relay: true, cursor: 3 })
    expect(await checkpoint()).toMatchObject({ lockedBy: 'instance-b' })
  })

  test('when another instance takes the lease after a pass read the checkpoints, then the claim is refused and the tenant is skipped', async () => {
    const { a, b, stored, eventRepository } = await leases()
    const readBefore = await eventRepository.checkpoints('archive')
    expect(await a.take('tenant-a', 2, stored)).toEqual({ relay: true, cursor: 0 })

    expect(await b.take('tenant-a', 2, async (tenantId) => readBefore.get(tenantId))).toEqual({
      relay: false,
    })
    expect(b.count()).toBe(0)
  })
})

describe('stats()', () => {
  test('when a sink is behind, then lag counts the undelivered events; then delivered and dead-lettered totals and the rate add up', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const gated: EventSink = { name: 'gated', durable: false, deliver: () => gate }
    const broken = recordingSink('broken', { fail: () => new Error('down') })
    const { services } = await open({
      events: { maxAttempts: 1, backoffBaseMs: 5 },
      sinks: [gated, broken.sink],
    })
    // Cleanups run last-first: the gate opens before stop() waits for the gated delivery.
    cleanups.push(async () => release())
    const tenant = await tenantOf(services, 'tenant-a')
    expect(await services.eventManager.stats()).toEqual({
      events_per_second: 0,
      delivered_total: 0,
      dead_lettered_total: 0,
      lag: 0,
      subscribers: 0,
      leases: 0,
    })

    for (let n = 0; n < 5; n++) await tenant.create()
    await until(
      async () => (await services.eventManager.stats()).dead_lettered_total === 5,
      'the broken sink dead-lettered all',
    )
    // The built-in webhooks and waiters sinks have no one to hand them to here: they pass the events as
    // delivered, like live.
    await until(
      async () => (await services.eventManager.stats()).delivered_total === 20,
      'live, webhooks and broken sinks are done',
    )
    expect((await services.eventManager.stats()).lag).toBe(5)

    release()
    await until(async () => (await services.eventManager.stats()).lag === 0, 'the gated sink caught up')
    // Five events through five sinks (live, webhooks, waiters, gated, broken); the live sink saw 5 events in the last 10 s.
    expect(await services.eventManager.stats()).toMatchObject({
      delivered_total: 25,
      dead_lettered_total: 5,
      lag: 0,
      events_per_second: 0.5,
    })
  })

  test('when time moves on, then events_per_second counts the events of the last 10 whole seconds only', async () => {
    // The rate's clock is Date.now, held here mid-second and moved only by the test.
    const start = Math.floor(Date.now() / 1000) * 1000 + 500
    let offsetMs = 0
    const now = jest.spyOn(Date, 'now').mockImplementation(() => start + offsetMs)
    cleanups.push(async () => now.mockRestore())
    const { services } = await open()
    const rateAt = async (ms: number) => {
      offsetMs = ms
      return (await services.eventManager.stats()).events_per_second
    }
    const tenant = await tenantOf(services, 'tenant-a')
    const write = async (count: number) => {
      for (let n = 0; n < count; n++) await tenant.create()
      await until(async () => (await services.eventManager.stats()).lag === 0, 'the live sink is at the head')
    }

    // Nobody is subscribed: the live sink passes the events over, and they still count.
    await write(5)
    expect(await rateAt(0)).toBe(0.5)
    offsetMs = 3000
    await write(2)
    expect(await rateAt(3000)).toBe(0.7)
    expect(await rateAt(9000)).toBe(0.7)
    expect(await rateAt(10_000)).toBe(0.2)
    expect(await rateAt(12_000)).toBe(0.2)
    expect(await rateAt(13_000)).toBe(0)
    offsetMs = 14_000
    await write(1)
    expect(await rateAt(60_000)).toBe(0)
  })

  test('when subscriptions open and close, then subscribers counts the open ones', async () => {
    const { services } = await open()
    await tenantOf(services, 'tenant-a')
    const options = { from: 'head' as const, match: () => true, send: () => true }

    const one = await services.eventManager.subscribe('tenant-a', options)
    const two = await services.eventManager.subscribe('tenant-a', options)
    const three = await services.eventManager.subscribe('tenant-b', options)
    expect((await services.eventManager.stats()).subscribers).toBe(3)

    one.close()
    one.close()
    three.close()
    expect((await services.eventManager.stats()).subscribers).toBe(1)
    two.close()
    expect((await services.eventManager.stats()).subscribers).toBe(0)
  })
})

describe('stop()', () => {
  test('when stop() is called, then what was committed before it is delivered, subscribers are closed, and a second call is harmless', async () => {
    const recorder = recordingSink()
    const { services } = await open({ events: { pollMs: 600_000 }, sinks: [recorder.sink] })
    await tenantOf(services, 'tenant-a')
    const reasons: CloseReason[] = []
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: 'head',
      match: () => true,
      send: () => true,
      onClose: (reason) => reasons.push(reason),
    })
    subscription.start()

    // Committed on another connection: nothing notifies the manager; only stop() can deliver these.
    const { services: other } = await open({ start: false })
    const writer = await tenantOf(other, 'tenant-a')
    for (let n = 0; n < 3; n++) await writer.create()

    const first = services.eventManager.stop()
    const second = services.eventManager.stop()
    expect(second).toBe(first)
    await Promise.all([first, second])
    await expect(services.eventManager.stop()).resolves.toBeUndefined()

    expect(recorder.seqsOf('tenant-a')).toEqual([1, 2, 3])
    expect(reasons).toEqual(['stopped'])
    expect((await services.eventManager.stats()).subscribers).toBe(0)

    // After stop, nothing more is delivered, notified or polled.
    await writer.create()
    services.eventManager.notify()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(recorder.seqsOf('tenant-a')).toEqual([1, 2, 3])
  })

  test('when stop() is called while a sink is backing off, then it returns without waiting for the retry', async () => {
    const broken = recordingSink('broken', { fail: () => new Error('down') })
    const { services } = await open({
      events: { maxAttempts: 10, backoffBaseMs: 600_000 },
      sinks: [broken.sink],
    })
    const tenant = await tenantOf(services, 'tenant-a')
    await tenant.create()
    await until(async () => broken.failures.length === 1, 'the first attempt failed')

    await services.eventManager.stop()

    expect(broken.failures).toHaveLength(1)
    expect((await services.eventManager.stats()).dead_lettered_total).toBe(0)
  })
})

describe('subscribe()', () => {
  /** A subscriber that records what it is sent and why it was closed. */
  function subscriber(options: { capacity?: number } = {}) {
    const sent: StatusEvent[] = []
    const closed: CloseReason[] = []
    return {
      sent,
      closed,
      seqs: () => sent.map((event) => event.seq),
      send: (event: StatusEvent) => {
        sent.push(event)
        return options.capacity === undefined || sent.length < options.capacity
      },
      onClose: (reason: CloseReason) => closed.push(reason),
    }
  }

  /** A live subscription of tenant-a from the head, matching everything, into `sub`. */
  const atHead = (services: Services, sub: ReturnType<typeof subscriber>) =>
    services.eventManager.subscribe('tenant-a', { from: 'head', match: () => true, ...sub })

  async function withEvents(count: number, events: ServiceOptions['eventManager'] = {}) {
    const { db, services } = await open({ events })
    const tenant = await tenantOf(services, 'tenant-a')
    const ids: string[] = []
    for (let n = 0; n < count; n++) ids.push(await tenant.create())
    await until(async () => (await services.eventManager.stats()).lag === 0, 'the live sink is at the head')
    return { db, services, tenant, ids }
  }

  test('when subscribing from a snapshot, then the snapshot and its seq come back and only later events follow', async () => {
    const { services, tenant, ids } = await withEvents(3)
    const sub = subscriber()

    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { snapshot: () => services.statusRepository.snapshot('tenant-a', { ids: [ids[0]!], limit: 10 }) },
      match: () => true,
      ...sub,
    })
    expect(subscription).toMatchObject({ resync: false, seq: 3, replayed: 0 })
    expect(subscription.snapshot).toEqual([expect.objectContaining({ status_id: ids[0], version: 1 })])
    subscription.start()

    await tenant.progress(ids[0]!, 50)
    await until(async () => sub.sent.length === 1, 'the live event arrived')
    expect(sub.seqs()).toEqual([4])
    expect(sub.sent[0]).toMatchObject({ status_id: ids[0], version: 2 })
  })

  test('when events are committed between subscribe() and start(), then start() sends them in order and then goes live', async () => {
    const { services, tenant, ids } = await withEvents(1)
    const sub = subscriber()
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { snapshot: () => services.statusRepository.snapshot('tenant-a', { limit: 10 }) },
      match: () => true,
      ...sub,
    })
    expect(subscription.seq).toBe(1)

    for (let n = 1; n <= 3; n++) await tenant.progress(ids[0]!, n * 10)
    await until(
      async () => (await services.eventManager.stats()).lag === 0,
      'the live sink handled the events',
    )
    expect(sub.sent).toHaveLength(0)

    subscription.start()
    expect(sub.seqs()).toEqual([2, 3, 4])
    await tenant.progress(ids[0]!, 90)
    await until(async () => sub.sent.length === 4, 'the live event arrived')
    expect(sub.seqs()).toEqual([2, 3, 4, 5])
  })

  test('when subscribing since a seq, then the matching stored events after it are replayed, counted, and live ones follow', async () => {
    const { services, tenant, ids } = await withEvents(4)
    const sub = subscriber()
    const wanted = new Set([ids[1], ids[3]])

    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 1 },
      match: (event) => wanted.has(event.status_id),
      ...sub,
    })
    expect(subscription).toMatchObject({ resync: false, seq: 4, replayed: 2 })
    expect(subscription.snapshot).toBeUndefined()
    subscription.start()
    expect(sub.seqs()).toEqual([2, 4])

    await tenant.progress(ids[2]!, 10)
    await tenant.progress(ids[3]!, 10)
    await until(async () => sub.sent.length === 3, 'the live event arrived')
    expect(sub.seqs()).toEqual([2, 4, 6])
  })

  test('when a replay is longer than a page, then it is sent page by page and live events follow it in order', async () => {
    const { services, tenant, ids } = await withEvents(7, { batchSize: 2 })
    const sub = subscriber()
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 0 },
      match: () => true,
      ...sub,
    })
    expect(subscription).toMatchObject({ seq: 7, replayed: 7 })

    subscription.start()
    // The first page goes at once; the rest on later turns of the event loop.
    expect(sub.seqs()).toEqual([1, 2])
    await tenant.progress(ids[0]!, 10)
    await until(async () => sub.sent.length === 8, 'the replay and the live event arrived')
    expect(sub.seqs()).toEqual(range(1, 8))
  })

  test('when a subscription is closed during a paged replay, then the rest of the replay is not sent', async () => {
    const { services } = await withEvents(6, { batchSize: 2 })
    const sub = subscriber()
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 0 },
      match: () => true,
      ...sub,
    })

    subscription.start()
    subscription.close()
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))

    expect(sub.seqs()).toEqual([1, 2])
    expect(sub.closed).toEqual(['unsubscribed'])
  })

  test('when subscribing since the head, then nothing is replayed and live events follow', async () => {
    const { services, tenant, ids } = await withEvents(2)
    const sub = subscriber()
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 2 },
      match: () => true,
      ...sub,
    })
    expect(subscription).toMatchObject({ resync: false, seq: 2, replayed: 0 })
    subscription.start()
    await tenant.progress(ids[0]!, 10)
    await until(async () => sub.sent.length === 1, 'the live event arrived')
    expect(sub.seqs()).toEqual([3])
  })

  test('when subscribing at the head, then only events committed afterwards are sent', async () => {
    const { services, tenant, ids } = await withEvents(3)
    const sub = subscriber()
    const subscription = await atHead(services, sub)
    expect(subscription).toMatchObject({ resync: false, seq: 3, replayed: 0 })
    subscription.start()

    await tenant.progress(ids[1]!, 10)
    await until(async () => sub.sent.length === 1, 'the live event arrived')
    expect(sub.seqs()).toEqual([4])
    // Every instance serves its own subscribers: the live sink is not durable and takes no leases.
    expect((await services.eventManager.stats()).leases).toBe(0)
  })

  test('when start() is called twice, then the second call sends nothing', async () => {
    const { services, tenant, ids } = await withEvents(1)
    const sub = subscriber()
    const subscription = await atHead(services, sub)
    subscription.start()
    subscription.start()

    await tenant.progress(ids[0]!, 10)
    await until(async () => sub.sent.length >= 1, 'the live event arrived')
    expect(sub.sent).toEqual([expect.objectContaining({ seq: 2 })])
  })

  test('when a tenant has no events yet, then a subscription from seq 0 goes live without a resync', async () => {
    const { services } = await open()
    const tenant = await tenantOf(services, 'tenant-a')
    const sub = subscriber()
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 0 },
      match: () => true,
      ...sub,
    })
    expect(subscription).toMatchObject({ resync: false, seq: 0, replayed: 0 })
    subscription.start()
    await tenant.create()
    await until(async () => sub.sent.length === 1, 'the first event arrived')
    expect(sub.seqs()).toEqual([1])
  })

  test('when since_seq is beyond the head, then the subscriber must resync and is not registered', async () => {
    const { services } = await withEvents(2)
    const sub = subscriber()
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 3 },
      match: () => true,
      ...sub,
    })
    expect(subscription).toMatchObject({ resync: true, seq: 2, replayed: 0 })
    expect(sub.closed).toEqual(['unsubscribed'])
    expect((await services.eventManager.stats()).subscribers).toBe(0)
  })

  test('when the events after since_seq were purged, then the subscriber must resync', async () => {
    const { db, services } = await withEvents(5)
    // Retention removed seq 1-3: a subscriber that saw only seq 1 would miss 2 and 3.
    await db.write(
      (tx) => tx.$executeRaw`DELETE FROM status_events WHERE tenant_id = 'tenant-a' AND seq <= 3`,
    )
    const sub = subscriber()

    const stale = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 1 },
      match: () => true,
      ...sub,
    })
    expect(stale).toMatchObject({ resync: true, seq: 5 })

    // One that saw seq 3 misses nothing.
    const fresh = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 3 },
      match: () => true,
      ...sub,
    })
    expect(fresh).toMatchObject({ resync: false, seq: 5, replayed: 2 })
    fresh.close()
  })

  test('when every stored event was purged, then a subscriber behind the head must resync', async () => {
    const { db, services } = await withEvents(3)
    await db.write((tx) => tx.$executeRaw`DELETE FROM status_events WHERE tenant_id = 'tenant-a'`)
    const sub = subscriber()

    const behind = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 2 },
      match: () => true,
      ...sub,
    })
    expect(behind).toMatchObject({ resync: true, seq: 3 })
    const atHead = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 3 },
      match: () => true,
      ...sub,
    })
    expect(atHead).toMatchObject({ resync: false, seq: 3, replayed: 0 })
    atHead.close()
  })

  test('when since_seq is further behind than maxReplay, then the subscriber must resync', async () => {
    const { services } = await withEvents(10, { maxReplay: 5 })
    const sub = subscriber()

    const tooFar = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 4 },
      match: () => true,
      ...sub,
    })
    expect(tooFar).toMatchObject({ resync: true, seq: 10 })
    const justEnough = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 5 },
      match: () => true,
      ...sub,
    })
    expect(justEnough).toMatchObject({ resync: false, seq: 10, replayed: 5 })
    justEnough.close()
  })

  test('when a subscriber refuses an event, then it is closed as a slow consumer and sent nothing more', async () => {
    const { services, tenant, ids } = await withEvents(1)
    const sub = subscriber({ capacity: 2 })
    const subscription = await atHead(services, sub)
    subscription.start()

    for (let n = 1; n <= 4; n++) await tenant.progress(ids[0]!, n)
    await until(
      async () => (await services.eventManager.stats()).lag === 0,
      'the live sink handled the events',
    )

    expect(sub.seqs()).toEqual([2, 3])
    expect(sub.closed).toEqual(['slow-consumer'])
    expect((await services.eventManager.stats()).subscribers).toBe(0)
  })

  test('when a subscriber refuses a replayed event, then it is closed as a slow consumer', async () => {
    const { services } = await withEvents(5)
    const sub = subscriber({ capacity: 2 })
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: { sinceSeq: 0 },
      match: () => true,
      ...sub,
    })
    expect(subscription.replayed).toBe(5)
    subscription.start()

    expect(sub.seqs()).toEqual([1, 2])
    expect(sub.closed).toEqual(['slow-consumer'])
  })

  test('when more events arrive before start() than the catch-up buffer holds, then the subscriber is closed as slow', async () => {
    const { services, tenant, ids } = await withEvents(1, { maxCatchUpBuffer: 2 })
    const sub = subscriber()
    const subscription = await atHead(services, sub)

    for (let n = 1; n <= 3; n++) await tenant.progress(ids[0]!, n)
    await until(async () => sub.closed.length === 1, 'the subscriber was closed')

    expect(sub.closed).toEqual(['slow-consumer'])
    subscription.start()
    expect(sub.sent).toHaveLength(0)
  })

  test('when as many events arrive before start() as the catch-up buffer holds, then start() sends them all', async () => {
    const { services, tenant, ids } = await withEvents(1, { maxCatchUpBuffer: 2 })
    const sub = subscriber()
    const subscription = await atHead(services, sub)

    for (let n = 1; n <= 2; n++) await tenant.progress(ids[0]!, n)
    await until(
      async () => (await services.eventManager.stats()).lag === 0,
      'the live sink handled the events',
    )
    subscription.start()

    expect(sub.seqs()).toEqual([2, 3])
    expect(sub.closed).toEqual([])
  })

  test('when a subscriber’s send throws, then the live sink fails like any sink: after maxAttempts the events are dead-lettered under its name', async () => {
    const { db, services, tenant, ids } = await withEvents(1, { maxAttempts: 1 })
    const subscription = await services.eventManager.subscribe('tenant-a', {
      from: 'head',
      match: () => true,
      send: () => {
        throw new Error('transport broke')
      },
    })
    subscription.start()

    await tenant.progress(ids[0]!, 10)
    await until(
      async () => (await services.eventManager.stats()).dead_lettered_total === 1,
      'the event was dead-lettered',
    )
    expect(await db.read.deadLetter.findMany()).toEqual([
      expect.objectContaining({ sink: 'live', tenantId: 'tenant-a', seq: 2n, error: 'transport broke' }),
    ])
  })

  test('when the last subscriber of a tenant leaves, even while the live sink reads its events, then those are passed over quietly and later ones are not read at all', async () => {
    const { services: writer, db } = await open({ start: false })
    const tenant = await tenantOf(writer, 'tenant-a')
    const id = await tenant.create()

    // The real repository, with its page reads recorded; one read can close the subscription first.
    const repository = createEventRepository(db)
    const pages: number[] = []
    let closeOnRead: (() => void) | undefined
    const watched: typeof repository = {
      ...repository,
      after: (tenantId, afterSeq, limit) => {
        pages.push(afterSeq)
        closeOnRead?.()
        closeOnRead = undefined
        return repository.after(tenantId, afterSeq, limit)
      },
    }
    const manager = createStatusEventManager({
      eventRepository: watched,
      logger: pino({ level: 'silent' }),
      pollMs: 10,
      maxAttempts: 1,
    })
    cleanups.push(() => manager.stop())
    await manager.start()
    const sub = subscriber()
    const subscription = await manager.subscribe('tenant-a', { from: 'head', match: () => true, ...sub })
    subscription.start()

    closeOnRead = () => subscription.close()
    await tenant.progress(id, 10)
    await until(async () => (await manager.stats()).lag === 0, 'the live sink is past seq 2')
    expect(pages).toEqual([1])
    expect(sub.sent).toEqual([])
    expect(sub.closed).toEqual(['unsubscribed'])
    expect(await manager.stats()).toMatchObject({ dead_lettered_total: 0, subscribers: 0 })

    await tenant.progress(id, 20)
    await tenant.progress(id, 30)
    await until(async () => (await manager.stats()).lag === 0, 'the live sink is past seq 4')
    expect(pages).toEqual([1])
    // The three events count in the live rate, the two passed over unread too.
    expect((await manager.stats()).events_per_second).toBe(0.3)
  })

  test('when a subscription is closed, then it receives nothing more and its onClose says unsubscribed', async () => {
    const { services, tenant, ids } = await withEvents(1)
    const sub = subscriber()
    const other = subscriber()
    const subscription = await atHead(services, sub)
    const witness = await services.eventManager.subscribe('tenant-a', {
      from: 'head',
      match: () => true,
      ...other,
    })
    subscription.start()
    witness.start()

    await tenant.progress(ids[0]!, 10)
    await until(async () => sub.sent.length === 1, 'the first event arrived')
    subscription.close()
    await tenant.progress(ids[0]!, 20)
    await until(async () => other.sent.length === 2, 'the witness received the second event')

    expect(sub.seqs()).toEqual([2])
    expect(sub.closed).toEqual(['unsubscribed'])
    expect(other.closed).toEqual([])
  })

  test('when a subscription belongs to another tenant, then it receives none of this tenant’s events', async () => {
    const { services, tenant, ids } = await withEvents(1)
    await tenantOf(services, 'tenant-b')
    const mine = subscriber()
    const theirs = subscriber()
    const a = await services.eventManager.subscribe('tenant-a', { from: 'head', match: () => true, ...mine })
    const b = await services.eventManager.subscribe('tenant-b', {
      from: 'head',
      match: () => true,
      ...theirs,
    })
    a.start()
    b.start()

    await tenant.progress(ids[0]!, 10)
    await until(async () => mine.sent.length === 1, 'the tenant’s own subscriber got the event')
    await until(async () => (await services.eventManager.stats()).lag === 0, 'every sink is at the head')
    expect(theirs.sent).toHaveLength(0)
  })
})
