import type { Logger } from 'pino'
import type { IdempotencyRepository, IdempotentResult } from '../db/idempotency-repository'
import type { Database, Db } from '../db/prisma'
import type { NewEvent, NewLog, StatusRepository } from '../db/status-repository'
import type { ErrorInfo, StatusRecord, StoredStatus } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import {
  applyCancel,
  applyCreate,
  applyError,
  applyHeartbeat,
  applyLog,
  applyRemove,
  applyReport,
  applySweep,
  type Change,
  type CreateInput,
  type LogInput,
  type UpdateInput,
} from '../domain/status-rules'
import type { StatusValue } from '../domain/transitions'
import {
  AppError,
  idempotencyKeyReused,
  isDatabaseUnavailable,
  statusExists,
  statusNotFound,
  versionMismatch,
} from '../errors'
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

/** Every mutation of a status, as a command to the writer. */
export type Command =
  | { type: 'create'; input: CreateInput }
  | { type: 'update'; input: UpdateInput; expectedVersion?: number }
  | { type: 'error'; error: ErrorInfo; shouldRetry: boolean }
  | { type: 'cancel' }
  | { type: 'remove' }
  /** A producer's heartbeat, bare (no version, no event) or with progress or a message. */
  | { type: 'heartbeat'; input: Pick<UpdateInput, 'progress_percentage' | 'message'> }
  /** The sweeper found it due (SPEC §11): records its lapse, unless a write came first. */
  | { type: 'sweep' }
  /** Lines appended to its log (SPEC §14): kept, and a `status.log` event. */
  | { type: 'log'; lines: LogInput[] }

/** What a single command answers; `replayed` is true when an Idempotency-Key answered from the stored result. */
export interface Written<T> {
  result: T
  replayed: boolean
}

export interface UpdateResult {
  status: StatusRecord
  applied: boolean
}

export interface HeartbeatResult {
  status_id: string
  last_heartbeat_at: Date
  version: number
}

/** The answer each command type gives: the record, an update's record and `applied`, nothing for a delete. */
export interface CommandResults {
  create: StatusRecord
  update: UpdateResult
  error: StatusRecord
  cancel: StatusRecord
  remove: null
  heartbeat: HeartbeatResult
  /** The record after the sweep; null when it was not due any more. */
  sweep: StatusRecord | null
  log: { accepted: number }
}

export interface Idempotency {
  key: string
  /** A hash of the request, so a different request under the same key is refused. */
  fingerprint: string
}

type Outcome =
  { ok: true; result: unknown; version: number; replayed: boolean } | { ok: false; error: unknown }

interface Waiter {
  /** Batch items only: the fields this item set that no later merged item overwrote. */
  fields: (keyof UpdateInput)[]
  superseded: boolean
  settle: (outcome: Outcome) => void
}

interface Op {
  command: Command
  /** A `/batch` item: consecutive progress-only batch items merge into one. */
  batch: boolean
  idempotency?: Idempotency
  waiters: Waiter[]
}

interface Entry {
  tenantId: string
  statusId: string
  ops: Op[]
}

export interface StatusUpdaterOptions {
  db: Database
  statusRepository: StatusRepository
  idempotency: IdempotencyRepository
  logger: Logger
  clock?: () => Date
  /** How long an Idempotency-Key's result answers repeats. */
  idempotencyTtlMs: number
  /** Statuses a flush writes at most; more wait for the next one. */
  batchSize: number
  /** How long `/batch` items may wait to be written with others; single commands never wait. */
  flushMs: number
  /** Commands waiting at most; beyond it new work is refused with 503 (backpressure). */
  maxQueue: number
  /** Called after every committed flush, so the event manager delivers at once. */
  onCommitted?: () => void
  metrics?: Metrics
}

export const queueFull = (retryAfterSeconds: number) =>
  new AppError('queue-full', 'The update queue is full; retry shortly', {
    retry_after: retryAfterSeconds,
  })

const shuttingDown = () => new AppError('shutting-down', 'The service is shutting down', { retry_after: 1 })

/** What a failed write tells a `/batch` item: the rule it broke, or why it could not be stored. */
function itemError(err: unknown): { code: string; message: string } {
  if (err instanceof AppError) return { code: err.code, message: err.message }
  return isDatabaseUnavailable(err)
    ? { code: 'database-unavailable', message: 'The database is not reachable right now; retry shortly' }
    : { code: 'internal-error', message: 'The update could not be stored' }
}

/**
 * The one writer of statuses. Every mutation (a create, a `PUT`, an error report, a cancel, a delete, the
 * items of `/batch` and of bulk cancel) is a command queued per status; a flush applies the commands of
 * up to `batchSize` statuses in arrival order through the domain's rules, in memory, and writes the
 * resulting states, their events and the idempotent results in one transaction of a few set-based
 * statements, then answers each command. Group commit: while a flush is being written, commands queue
 * for the next one, which starts as soon as it ends; an idle writer starts a flush for a single command
 * at once (in the same turn of the event loop), while `/batch` items wait up to `flushMs` for company.
 * Consecutive progress-only `/batch` items of one status merge (last value wins). A command the rules
 * refuse fails alone; if the transaction itself fails, its statuses are written again one at a time so
 * a bad one never sinks the others.
 */
export function createStatusUpdater(options: StatusUpdaterOptions) {
  const {
    db,
    statusRepository,
    idempotency,
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
  let immediate: NodeJS.Immediate | null = null
  let urgent = false
  /** Asked to write everything queued (a timer, an explicit flush, stop): not only what is due. */
  let everything = false
  let flushing: Promise<void> | null = null
  let stopped = false
  let draining = false
  const metrics = { flushes: 0, items: 0, lastFlushMs: 0, totalFlushMs: 0, statuses: 0 }

  function entryOf(tenantId: string, statusId: string): Entry {
    const key = `${tenantId}\u0000${statusId}`
    let entry = queue.get(key)
    if (!entry) {
      entry = { tenantId, statusId, ops: [] }
      queue.set(key, entry)
    }
    return entry
  }

  function enqueueItem(tenantId: string, item: BatchItem): Promise<ItemResult> {
    return new Promise((resolve) => {
      const entry = entryOf(tenantId, item.status_id)
      const input: UpdateInput = {}
      if (item.new_status !== undefined) input.new_status = item.new_status
      if (item.progress_percentage !== undefined) input.progress_percentage = item.progress_percentage
      if (item.message !== undefined) input.message = item.message
      const waiter: Waiter = {
        fields: Object.keys(input) as (keyof UpdateInput)[],
        superseded: false,
        settle: (outcome) =>
          resolve(
            !outcome.ok
              ? { result: 'error', status_id: item.status_id, error: itemError(outcome.error) }
              : waiter.superseded
                ? { result: 'stale', status_id: item.status_id }
                : { result: 'applied', status_id: item.status_id, version: outcome.version },
          ),
      }
      const last = entry.ops[entry.ops.length - 1]
      const lastInput = last?.command.type === 'update' && last.batch ? last.command.input : undefined
      if (lastInput && lastInput.new_status === undefined && input.new_status === undefined) {
        Object.assign(lastInput, input)
        // Several later items may overwrite an earlier one's fields between them: keep what is left of it.
        for (const earlier of last!.waiters) {
          earlier.fields = earlier.fields.filter((field) => !(field in input))
          if (earlier.fields.length === 0) earlier.superseded = true
        }
        last!.waiters.push(waiter)
      } else {
        entry.ops.push({ command: { type: 'update', input }, batch: true, waiters: [waiter] })
      }
      depth += 1
    })
  }

  function schedule(): void {
    if (flushing || depth === 0) return
    if (urgent || draining || depth >= batchSize) {
      if (timer) clearTimeout(timer)
      timer = null
      // The rest of this turn's requests join the flush: a group, at no added delay.
      // A single command writes what is queued and goes on while more single commands come; a full batch
      // or a drain writes everything.
      const all = draining || depth >= batchSize
      if (all) everything = true
      immediate ??= setImmediate(() => {
        immediate = null
        void run(false)
      })
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null
        void run(true)
      }, flushMs)
    }
  }

  /** The answer a command gives once applied, as stored for its Idempotency-Key. */
  function resultOf(command: Command, state: StoredStatus, applied: boolean): unknown {
    switch (command.type) {
      case 'update':
        return { status: toRecord(state), applied }
      case 'remove':
        return null
      case 'heartbeat':
        return {
          status_id: state.status_id,
          last_heartbeat_at: state.last_heartbeat_at,
          version: state.version,
        }
      case 'sweep':
        return applied ? toRecord(state) : null
      case 'log':
        return { accepted: command.lines.length }
      default:
        return toRecord(state)
    }
  }

  /**
   * Applies one command to `state` (null: no such status): the next state, the change it made, or a
   * refusal thrown as an AppError.
   */
  function apply(
    statusId: string,
    command: Command,
    state: StoredStatus | null,
    now: Date,
  ): { next: StoredStatus | null; change: Change | null; applied: boolean; log?: NewLog } {
    if (command.type === 'create') {
      if (state) throw statusExists(statusId)
      const change = applyCreate(command.input, now)
      return { next: change.next, change, applied: true }
    }
    if (!state) throw statusNotFound(statusId)
    switch (command.type) {
      case 'update': {
        if (command.expectedVersion !== undefined && command.expectedVersion !== state.version)
          throw versionMismatch(command.expectedVersion, state.version)
        return applyReport(state, command.input, now)
      }
      case 'error': {
        const change = applyError(state, command.error, command.shouldRetry, now)
        return { next: change.next, change, applied: true }
      }
      case 'cancel': {
        const change = applyCancel(state, now)
        return { next: change.next, change, applied: true }
      }
      case 'remove':
        return { next: null, change: applyRemove(state, now), applied: true }
      case 'heartbeat':
        return applyHeartbeat(state, command.input, now)
      case 'sweep': {
        const change = applySweep(state, now)
        return { next: change?.next ?? state, change, applied: change !== null }
      }
      case 'log': {
        const { next, lines, first } = applyLog(state, command.lines, now)
        return { next, change: null, applied: true, log: { statusId, first, lines } }
      }
    }
  }

  interface TenantWrite {
    /** New statuses, and statuses deleted and created again in the flush. */
    inserts: StoredStatus[]
    /** Statuses that exist and changed, each with its stored state. */
    updates: { before: StoredStatus; next: StoredStatus }[]
    deletes: Set<string>
    events: NewEvent[]
    saved: { key: string; result: IdempotentResult }[]
    logs: NewLog[]
  }

  /** Applies a batch in memory: each tenant's writes, and each waiter's outcome. */
  function plan(
    entries: Entry[],
    current: Map<string, Map<string, StoredStatus>>,
    stored: Map<string, Map<string, IdempotentResult>>,
    now: Date,
  ) {
    const writes = new Map<string, TenantWrite>()
    const outcomes: [Waiter, Outcome][] = []
    for (const entry of entries) {
      const tenant: TenantWrite = writes.get(entry.tenantId) ?? {
        inserts: [],
        updates: [],
        deletes: new Set(),
        events: [],
        saved: [],
        logs: [],
      }
      writes.set(entry.tenantId, tenant)
      const known = stored.get(entry.tenantId) ?? new Map<string, IdempotentResult>()
      stored.set(entry.tenantId, known)
      const before = current.get(entry.tenantId)?.get(entry.statusId) ?? null
      let state = before
      let deleted = false
      for (const op of entry.ops) {
        const settle = (outcome: Outcome) => {
          for (const waiter of op.waiters) outcomes.push([waiter, outcome])
        }
        const key = op.idempotency?.key
        const replay = key === undefined ? undefined : known.get(key)
        if (replay) {
          settle(
            replay.fingerprint === op.idempotency!.fingerprint
              ? { ok: true, result: replay.body, version: state?.version ?? 0, replayed: true }
              : { ok: false, error: idempotencyKeyReused() },
          )
          continue
        }
        try {
          const applied = apply(entry.statusId, op.command, state, now)
          if (applied.change) {
            const { next, type, changes } = applied.change
            tenant.events.push({ type, status: toRecord(next), changes, occurredAt: next.updated_at })
          }
          if (applied.log) {
            const { lines } = applied.log
            tenant.logs.push(applied.log)
            tenant.events.push({
              type: 'status.log',
              statusId: entry.statusId,
              version: applied.next!.version,
              lines,
              occurredAt: now,
            })
          }
          if (applied.next === null) deleted = true
          state = applied.next
          const result = resultOf(op.command, applied.change?.next ?? state!, applied.applied)
          if (key !== undefined) {
            const saved = { fingerprint: op.idempotency!.fingerprint, statusCode: 200, body: result }
            known.set(key, saved)
            tenant.saved.push({ key, result: saved })
          }
          settle({ ok: true, result, version: state?.version ?? 0, replayed: false })
        } catch (err) {
          if (!(err instanceof AppError)) throw err
          settle({ ok: false, error: err })
        }
      }
      // A status deleted (and perhaps created again) goes first; what is left of it is written after.
      if (deleted && before) tenant.deletes.add(entry.statusId)
      if (state && (deleted || !before)) tenant.inserts.push(state)
      else if (state && before && state !== before) tenant.updates.push({ before, next: state })
    }
    return { writes, outcomes }
  }

  async function write(entries: Entry[]): Promise<[Waiter, Outcome][]> {
    const byTenant = new Map<string, { ids: string[]; keys: string[] }>()
    for (const entry of entries) {
      const tenant = byTenant.get(entry.tenantId) ?? { ids: [], keys: [] }
      tenant.ids.push(entry.statusId)
      for (const op of entry.ops) if (op.idempotency) tenant.keys.push(op.idempotency.key)
      byTenant.set(entry.tenantId, tenant)
    }
    return db.write(async (tx) => {
      await statusRepository.lockForWrite(
        tx,
        [...byTenant].map(([tenantId, { ids, keys }]) => ({ tenantId, ids, keys })),
      )
      const now = clock()
      const notBefore = new Date(now.getTime() - options.idempotencyTtlMs)
      const current = new Map<string, Map<string, StoredStatus>>()
      const stored = new Map<string, Map<string, IdempotentResult>>()
      for (const [tenantId, { ids, keys }] of byTenant) {
        current.set(tenantId, await statusRepository.current(tx, tenantId, ids))
        if (keys.length > 0) stored.set(tenantId, await idempotency.findMany(tx, tenantId, keys, notBefore))
      }
      const { writes, outcomes } = plan(entries, current, stored, now)
      await commitWrites(tx, writes, now)
      return outcomes
    })
  }

  async function commitWrites(tx: Db, writes: Map<string, TenantWrite>, now: Date) {
    for (const [tenantId, tenant] of writes) {
      await statusRepository.removeMany(tx, tenantId, [...tenant.deletes])
      await statusRepository.insertMany(tx, tenantId, tenant.inserts)
      await statusRepository.updateMany(tx, tenantId, tenant.updates)
      await statusRepository.appendLogs(tx, tenantId, tenant.logs)
      await statusRepository.appendEvents(tx, tenantId, tenant.events)
      await idempotency.saveMany(tx, tenantId, tenant.saved, now)
    }
  }

  async function flushBatch(entries: Entry[]): Promise<void> {
    const started = performance.now()
    let outcomes: [Waiter, Outcome][]
    try {
      outcomes = await write(entries)
    } catch (err) {
      // A lost connection may have lost the answer to a COMMIT that happened: written again, the batch
      // would apply twice (a create then finds itself, 409). Its commands fail as the database's
      // failure (503), which a client may retry where the request is idempotent. Any other failure is
      // the batch's own, and one status at a time finds the one that sank it.
      const alone = entries.length > 1 && !isDatabaseUnavailable(err)
      if (alone)
        logger.error({ err, statuses: entries.length }, 'batch write failed; retrying one status at a time')
      outcomes = []
      for (const entry of entries) {
        try {
          outcomes.push(...(alone ? await write([entry]) : failed(entry, err)))
        } catch (itemErr) {
          outcomes.push(...failed(entry, itemErr))
        }
      }
    }
    onCommitted?.()
    for (const [waiter, outcome] of outcomes) waiter.settle(outcome)
    const elapsed = performance.now() - started
    metrics.flushes += 1
    metrics.items += outcomes.length
    metrics.statuses += entries.length
    metrics.lastFlushMs = elapsed
    metrics.totalFlushMs += elapsed
    options.metrics?.updaterFlushSeconds.observe(elapsed / 1000)
    options.metrics?.updaterBatchStatuses.observe(entries.length)
    for (const [waiter, outcome] of outcomes)
      options.metrics?.updaterItems.inc({
        result: !outcome.ok ? 'error' : waiter.superseded ? 'stale' : 'applied',
      })
  }

  function failed(entry: Entry, err: unknown): [Waiter, Outcome][] {
    logger.error({ err, statusId: entry.statusId }, 'status write failed')
    return entry.ops.flatMap((op) =>
      op.waiters.map((waiter): [Waiter, Outcome] => [waiter, { ok: false, error: err }]),
    )
  }

  const isBareHeartbeat = (command: Command) =>
    command.type === 'heartbeat' &&
    command.input.progress_percentage === undefined &&
    command.input.message === undefined

  function enqueue<C extends Command>(
    tenantId: string,
    statusId: string,
    command: C,
    { urgent: now, idempotent }: { urgent: boolean; idempotent?: Idempotency },
  ): Promise<Written<CommandResults[C['type']]>> {
    if (stopped) return Promise.reject(shuttingDown())
    if (depth + 1 > maxQueue) return Promise.reject(queueFull(1))
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        fields: [],
        superseded: false,
        settle: (outcome) =>
          outcome.ok
            ? resolve({ result: outcome.result as CommandResults[C['type']], replayed: outcome.replayed })
            : reject(outcome.error),
      }
      const entry = entryOf(tenantId, statusId)
      const last = entry.ops[entry.ops.length - 1]
      if (last && isBareHeartbeat(last.command) && isBareHeartbeat(command)) last.waiters.push(waiter)
      else entry.ops.push({ command, batch: false, idempotency: idempotent, waiters: [waiter] })
      depth += 1
      if (now) urgent = true
      schedule()
    })
  }

  /** Writes everything queued now, batch after batch. */
  const flush = () => run(true)

  /**
   * Writes what is queued, batch after batch: everything when `all`, else for as long as something is
   * due (a single command, a full batch, a drain); `/batch` items queued meanwhile keep their window.
   */
  function run(all: boolean): Promise<void> {
    if (timer) clearTimeout(timer)
    timer = null
    if (immediate) clearImmediate(immediate)
    immediate = null
    // With nothing queued the body below would finish synchronously, before `flushing` is assigned, and
    // leave it set for good: every later schedule() would then wait for a flush that never comes.
    if (!flushing && queue.size === 0) return Promise.resolve()
    // A flush under way goes on until the queue is empty, so that whoever asked for everything gets it.
    if (all) everything = true
    flushing ??= (async () => {
      try {
        while (queue.size > 0 && (everything || urgent)) {
          const entries: Entry[] = []
          urgent = false
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
        everything = false
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
      if (stopped) throw shuttingDown()
      const existing = await statusRepository.existing(
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
        if (known[index]) submitted.accepted.push({ index, result: enqueueItem(tenantId, item) })
        else {
          const { code, message } = statusNotFound(item.status_id)
          submitted.rejected.push({ index, error: { code, message } })
        }
      })
      schedule()
      return submitted
    },

    /**
     * Runs one command and answers once it is committed (or rejects with why not: the rule it broke, a
     * 404, a 412, a 422 for a reused Idempotency-Key, or the database's failure). It joins the flush
     * being prepared, or starts one at once when the writer is idle.
     */
    execute<C extends Command>(
      tenantId: string,
      statusId: string,
      command: C,
      idempotent?: Idempotency,
    ): Promise<Written<CommandResults[C['type']]>> {
      return enqueue(tenantId, statusId, command, { urgent: true, idempotent })
    },

    /**
     * Like `execute`, but the command waits up to `flushMs` for company, as `/batch` items do: heartbeats
     * and the sweeper's commands, which come in crowds and are written many to a transaction. Bare
     * heartbeats of one status queued back to back are one write.
     */
    later<C extends Command>(
      tenantId: string,
      statusId: string,
      command: C,
    ): Promise<Written<CommandResults[C['type']]>> {
      return enqueue(tenantId, statusId, command, { urgent: false })
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
