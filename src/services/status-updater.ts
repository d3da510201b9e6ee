import type { Logger } from 'pino'
import type { Database } from '../db/prisma'
import type { NewEvent, StatusRepository } from '../db/status-repository'
import type { StoredStatus } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import { applyUpdate, type UpdateInput } from '../domain/status-rules'
import type { StatusValue } from '../domain/transitions'
import { AppError, isDatabaseUnavailable, statusNotFound } from '../errors'
import type { Metrics } from '../metrics'

export interface BatchItem {
  status_id: string
  new_status?: StatusValue
  progress_percentage?: number
  message?: string
}

/** `stale`: a later item of the same queue overwrote every field this one set before it was written. */
export type ItemResult =
  | { result: 'applied'; status_id: string; version: number }
  | { result: 'stale'; status_id: string }
  | { result: 'error'; status_id: string; error: { code: string; message: string } }

export interface Submitted {
  accepted: { index: number; result: Promise<ItemResult> }[]
  rejected: { index: number; error: { code: string; message: string } }[]
}

interface Waiter {
  fields: (keyof UpdateInput)[]
  superseded: boolean
  resolve: (result: ItemResult) => void
}

interface Op {
  input: UpdateInput
  waiters: Waiter[]
}

interface Entry {
  tenantId: string
  statusId: string
  ops: Op[]
}

export interface StatusUpdaterOptions {
  db: Database
  statuses: StatusRepository
  logger: Logger
  clock?: () => Date
  batchSize: number
  flushMs: number
  /** Items waiting at most; beyond it new work is refused with 503 (backpressure). */
  maxQueue: number
  /** Called after every committed flush, so the event manager delivers at once. */
  onCommitted?: () => void
  metrics?: Metrics
}

export const queueFull = (retryAfterSeconds: number) =>
  new AppError('queue-full', 503, 'The update queue is full; retry shortly', {
    retry_after: retryAfterSeconds,
  })

/**
 * The batched write path. Updates queue per status: consecutive progress-only updates merge (last value
 * wins), status transitions are kept and applied in order through the same rules as single writes.
 * A flush, on size or after `flushMs`, writes a whole batch and its events in one transaction with a
 * few set-based statements. An item the rules refuse fails alone; if the transaction itself fails, the
 * batch is retried one status at a time so a bad item never sinks the others.
 */
export function createStatusUpdater(options: StatusUpdaterOptions) {
  const {
    db,
    statuses,
    logger,
    clock = () => new Date(),
    batchSize,
    flushMs,
    maxQueue,
    onCommitted,
  } = options
  const queue = new Map<string, Entry>()
  let depth = 0
  let timer: NodeJS.Timeout | null = null
  let flushing: Promise<void> | null = null
  let stopped = false
  let draining = false
  const metrics = { flushes: 0, items: 0, lastFlushMs: 0, totalFlushMs: 0, statuses: 0 }

  function enqueue(tenantId: string, item: BatchItem): Promise<ItemResult> {
    return new Promise((resolve) => {
      const key = `${tenantId}\u0000${item.status_id}`
      let entry = queue.get(key)
      if (!entry) {
        entry = { tenantId, statusId: item.status_id, ops: [] }
        queue.set(key, entry)
      }
      const input: UpdateInput = {}
      if (item.new_status !== undefined) input.new_status = item.new_status
      if (item.progress_percentage !== undefined) input.progress_percentage = item.progress_percentage
      if (item.message !== undefined) input.message = item.message
      const waiter: Waiter = {
        fields: Object.keys(input) as (keyof UpdateInput)[],
        superseded: false,
        resolve,
      }
      const last = entry.ops[entry.ops.length - 1]
      if (last && last.input.new_status === undefined && input.new_status === undefined) {
        Object.assign(last.input, input)
        // Several later items may overwrite an earlier one's fields between them: keep what is left of it.
        for (const earlier of last.waiters) {
          earlier.fields = earlier.fields.filter((field) => !(field in input))
          if (earlier.fields.length === 0) earlier.superseded = true
        }
        last.waiters.push(waiter)
      } else {
        entry.ops.push({ input, waiters: [waiter] })
      }
      depth += 1
    })
  }

  function schedule(): void {
    if (flushing || depth === 0) return
    if (depth >= batchSize || draining) {
      if (timer) clearTimeout(timer)
      timer = null
      void flush()
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null
        void flush()
      }, flushMs)
    }
  }

  /** Applies one batch in memory: the new states, their events, and each waiter's answer. */
  function plan(entries: Entry[], current: Map<string, Map<string, StoredStatus>>, now: Date) {
    const writes = new Map<string, { statuses: StoredStatus[]; events: NewEvent[] }>()
    const answers: [Waiter, ItemResult][] = []
    for (const entry of entries) {
      const answer = (op: Op, result: ItemResult) => {
        for (const waiter of op.waiters) {
          answers.push([
            waiter,
            waiter.superseded && result.result === 'applied'
              ? { result: 'stale', status_id: entry.statusId }
              : result,
          ])
        }
      }
      let state = current.get(entry.tenantId)?.get(entry.statusId)
      if (!state) {
        const { code, message } = statusNotFound(entry.statusId)
        for (const op of entry.ops)
          answer(op, { result: 'error', status_id: entry.statusId, error: { code, message } })
        continue
      }
      const before = state
      const tenant = writes.get(entry.tenantId) ?? { statuses: [], events: [] }
      for (const op of entry.ops) {
        try {
          const change = applyUpdate(state, op.input, now)
          if (change) {
            state = change.next
            tenant.events.push({
              type: change.type,
              status: toRecord(state),
              changes: change.changes,
              occurredAt: now,
            })
          }
          answer(op, { result: 'applied', status_id: entry.statusId, version: state.version })
        } catch (err) {
          if (!(err instanceof AppError)) throw err
          answer(op, {
            result: 'error',
            status_id: entry.statusId,
            error: { code: err.code, message: err.message },
          })
        }
      }
      if (state !== before) tenant.statuses.push(state)
      writes.set(entry.tenantId, tenant)
    }
    return { writes, answers }
  }

  async function write(entries: Entry[]): Promise<[Waiter, ItemResult][]> {
    return db.write(async (tx) => {
      // Read for this transaction: nothing can change these statuses before it commits (see current()).
      const ids = new Map<string, string[]>()
      for (const entry of entries)
        ids.set(entry.tenantId, [...(ids.get(entry.tenantId) ?? []), entry.statusId])
      const current = new Map<string, Map<string, StoredStatus>>()
      for (const [tenantId, tenantIds] of ids)
        current.set(tenantId, await statuses.current(tx, tenantId, tenantIds))
      const { writes, answers } = plan(entries, current, clock())
      for (const [tenantId, { statuses: changed, events }] of writes) {
        await statuses.writeMany(tx, tenantId, changed)
        await statuses.appendEvents(tx, tenantId, events)
      }
      return answers
    })
  }

  async function flushBatch(entries: Entry[]): Promise<void> {
    const started = performance.now()
    let answers: [Waiter, ItemResult][]
    try {
      answers = await write(entries)
    } catch (err) {
      logger.error({ err, statuses: entries.length }, 'batch write failed; retrying one status at a time')
      answers = []
      for (const entry of entries) {
        try {
          answers.push(...(await write([entry])))
        } catch (itemErr) {
          logger.error({ err: itemErr, statusId: entry.statusId }, 'status update failed')
          // A lost database connection is worth a retry; anything else is our fault.
          const error = isDatabaseUnavailable(itemErr)
            ? {
                code: 'database-unavailable',
                message: 'The database is not reachable right now; retry shortly',
              }
            : { code: 'internal-error', message: 'The update could not be stored' }
          for (const op of entry.ops)
            for (const waiter of op.waiters)
              answers.push([waiter, { result: 'error', status_id: entry.statusId, error }])
        }
      }
    }
    onCommitted?.()
    for (const [waiter, result] of answers) waiter.resolve(result)
    const elapsed = performance.now() - started
    metrics.flushes += 1
    metrics.items += answers.length
    metrics.statuses += entries.length
    metrics.lastFlushMs = elapsed
    metrics.totalFlushMs += elapsed
    options.metrics?.updaterFlushSeconds.observe(elapsed / 1000)
    options.metrics?.updaterBatchStatuses.observe(entries.length)
    for (const [, answer] of answers) options.metrics?.updaterItems.inc({ result: answer.result })
  }

  /** Writes everything queued now, batch after batch. */
  function flush(): Promise<void> {
    if (timer) clearTimeout(timer)
    timer = null
    // With nothing queued the body below would finish synchronously, before `flushing` is assigned, and
    // leave it set for good: every later schedule() would then wait for a flush that never comes.
    if (!flushing && queue.size === 0) return Promise.resolve()
    flushing ??= (async () => {
      try {
        while (queue.size > 0) {
          const entries: Entry[] = []
          for (const [key, entry] of queue) {
            entries.push(entry)
            queue.delete(key)
            depth -= entry.ops.reduce((n, op) => n + op.waiters.length, 0)
            if (entries.length >= batchSize) break
          }
          await flushBatch(entries)
          // Let requests and sockets breathe between batches of a long drain.
          await new Promise((resolve) => setImmediate(resolve))
        }
      } finally {
        flushing = null
      }
      schedule()
    })()
    return flushing
  }

  return {
    /**
     * Queues the items of statuses that exist and refuses the others. Each queued item gets a promise,
     * settled once its batch is committed. Throws `queue-full` (503) for the whole request when the
     * queued items would not fit.
     */
    async submit(tenantId: string, items: BatchItem[]): Promise<Submitted> {
      const shuttingDown = () =>
        new AppError('shutting-down', 503, 'The service is shutting down', { retry_after: 1 })
      if (stopped) throw shuttingDown()
      const existing = await statuses.existing(
        tenantId,
        items.map((item) => item.status_id),
      )
      // Checked again: stop() may have begun while the ids were being looked up.
      if (stopped) throw shuttingDown()
      const known = items.map((item) => existing.has(item.status_id))
      const count = known.filter(Boolean).length
      if (depth + count > maxQueue) throw queueFull(1)
      const submitted: Submitted = { accepted: [], rejected: [] }
      items.forEach((item, index) => {
        if (known[index]) submitted.accepted.push({ index, result: enqueue(tenantId, item) })
        else {
          const { code, message } = statusNotFound(item.status_id)
          submitted.rejected.push({ index, error: { code, message } })
        }
      })
      schedule()
      return submitted
    },

    flush,

    depth: () => depth,

    stats() {
      return {
        queue_depth: depth,
        queue_capacity: maxQueue,
        flushes: metrics.flushes,
        updates_written: metrics.items,
        last_flush_ms: Math.round(metrics.lastFlushMs * 100) / 100,
        mean_flush_ms:
          metrics.flushes === 0 ? 0 : Math.round((metrics.totalFlushMs / metrics.flushes) * 100) / 100,
        mean_batch_statuses:
          metrics.flushes === 0 ? 0 : Math.round((metrics.statuses / metrics.flushes) * 10) / 10,
      }
    },

    /**
     * Shutdown, while requests in flight finish: writes what is queued and, from now on, every submit at
     * once instead of after `flushMs` (a batch waiting for its commit must not wait for the delay).
     */
    drain(): Promise<void> {
      draining = true
      return flush()
    },

    /** Refuses new work and writes what is queued. Idempotent. */
    async stop(): Promise<void> {
      stopped = true
      await flush()
    },
  }
}

export type StatusUpdater = ReturnType<typeof createStatusUpdater>
