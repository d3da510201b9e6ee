import type { Logger } from 'pino'
import type { IdempotencyRepository, IdempotentResult } from '../db/idempotency-repository'
import type { Database, Db } from '../db/prisma'
import type { NewEvent, NewLog, StatusRepository } from '../db/status-repository'
import type { ChangeEventType, Changes, ErrorInfo, StatusRecord, StoredStatus } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import { MAX_DEPTH, movesPart, type ChildMove } from '../domain/groups'
import {
  applyCancel,
  applyCreate,
  applyError,
  applyHeartbeat,
  applyLog,
  applyRemove,
  applyReport,
  applyRollUp,
  applySweep,
  type Change,
  type CreateInput,
  type LogInput,
  type UpdateInput,
} from '../domain/status-rules'
import { isTerminal, type StatusValue } from '../domain/transitions'
import {
  AppError,
  hasChildren,
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
  /** Cancels its non-terminal descendants too (SPEC §12). */
  | { type: 'cancel' }
  /** A status with children is refused (`has-children`) unless `cascade`, which deletes its descendants too. */
  | { type: 'remove'; cascade?: boolean }
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
      // Stryker disable next-line ConditionalExpression: an undefined new_status is an absent one to the merge and to the rules
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
    // Stryker disable next-line ConditionalExpression,LogicalOperator: a run armed while one flushes joins it; one armed with nothing queued ends at once
    if (flushing || depth === 0) return
    if (urgent || draining || depth >= batchSize) {
      // Stryker disable next-line ConditionalExpression: clearing no timer does nothing; a timer left armed only flushes early (timing, not outcome)
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
      // Stryker disable next-line ConditionalExpression: a second timer armed later fires after the first, which has flushed already (timing only)
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

  /** One status in a flush: as read, as it is now, and its last change event in this flush. */
  interface Slot {
    initial: StoredStatus | null
    state: StoredStatus | null
    /** Deleted at some point of the flush (what is left of it, if made again, is inserted). */
    deleted: boolean
    lastEvent?: PlannedChange
  }

  /** A change event as planned: its record is taken from `state` when the flush is written. */
  interface PlannedChange {
    type: ChangeEventType
    state: StoredStatus
    changes: Changes
    occurredAt: Date
  }

  /** A tenant's part of a flush: every status it reads or writes, and what it appends. */
  interface TenantPlan {
    slots: Map<string, Slot>
    events: (PlannedChange | Extract<NewEvent, { type: 'status.log' }>)[]
    saved: { key: string; result: IdempotentResult }[]
    logs: NewLog[]
  }

  /** The children of `parentId` among the flush's statuses, as they are now (or were, if deleted). */
  function childrenIn(tenant: TenantPlan, parentId: string): [string, Slot][] {
    return [...tenant.slots].filter(([, slot]) => (slot.state ?? slot.initial)?.parent_id === parentId)
  }

  /** Its descendants, each after its parent: all of them are in the flush (`write` read them). */
  function descendantsIn(tenant: TenantPlan, statusId: string): [string, Slot][] {
    // Stryker disable next-line ArrayDeclaration: a stray first element has no state, and callers skip what has none
    const found: [string, Slot][] = []
    for (let level = childrenIn(tenant, statusId); level.length > 0;) {
      found.push(...level)
      level = level.flatMap(([id]) => childrenIn(tenant, id))
    }
    return found
  }

  /** How many children it has now: the summary as read, and the flush's creates and deletes since. */
  function childCount(tenant: TenantPlan, statusId: string, slot: Slot): number {
    let n = slot.initial?.children?.total ?? 0
    for (const [, child] of childrenIn(tenant, statusId))
      n += Number(child.state !== null) - Number(child.initial !== null)
    return n
  }

  function record(tenant: TenantPlan, slot: Slot, change: Change) {
    const planned: PlannedChange = {
      type: change.type,
      state: change.next,
      changes: change.changes,
      occurredAt: change.next.updated_at,
    }
    tenant.events.push(planned)
    slot.lastEvent = planned
  }

  /**
   * Applies one command to its status's slot (a state of null: no such status), and the cascade of a
   * cancel or a delete to its descendants: the state after, whether it applied, or a refusal thrown as
   * an AppError, before anything of it is planned.
   */
  function apply(
    tenant: TenantPlan,
    statusId: string,
    slot: Slot,
    command: Command,
    now: Date,
  ): { result: StoredStatus | null; applied: boolean } {
    const state = slot.state
    const changed = (change: Change) => {
      record(tenant, slot, change)
      slot.state = change.next
      return { result: change.next, applied: true }
    }
    if (command.type === 'create') {
      if (state) throw statusExists(statusId)
      const { parent_id } = command.input
      // Stryker disable next-line ConditionalExpression,OptionalChaining: there is no slot for `undefined`, and a parent named is always loaded (as null when it does not exist)
      const parent = parent_id === undefined ? undefined : tenant.slots.get(parent_id)?.state
      return changed(applyCreate(command.input, now, parent))
    }
    if (!state) throw statusNotFound(statusId)
    switch (command.type) {
      case 'update': {
        if (command.expectedVersion !== undefined && command.expectedVersion !== state.version)
          throw versionMismatch(command.expectedVersion, state.version)
        const report = applyReport(state, command.input, now)
        if (report.change) return changed(report.change)
        slot.state = report.next
        return { result: report.next, applied: report.applied }
      }
      case 'error':
        return changed(applyError(state, command.error, command.shouldRetry, now))
      case 'cancel': {
        const done = changed(applyCancel(state, now))
        for (const [, child] of descendantsIn(tenant, statusId))
          if (child.state && !isTerminal(child.state.status)) {
            const change = applyCancel(child.state, now)
            record(tenant, child, change)
            child.state = change.next
          }
        return done
      }
      case 'remove': {
        const children = childCount(tenant, statusId, slot)
        if (children > 0 && !command.cascade) throw hasChildren(statusId, children)
        const change = applyRemove(state, now)
        // Children first: the feed tells of a tree's deletion leaves first, as it told of its making root first.
        for (const [, child] of descendantsIn(tenant, statusId).reverse())
          if (child.state) {
            record(tenant, child, applyRemove(child.state, now))
            child.state = null
            child.deleted = true
          }
        record(tenant, slot, change)
        slot.state = null
        slot.deleted = true
        // Stryker disable next-line BooleanLiteral,ObjectLiteral: a delete answers null whatever this says
        return { result: change.next, applied: true }
      }
      case 'heartbeat': {
        const report = applyHeartbeat(state, command.input, now)
        if (report.change) return changed(report.change)
        slot.state = report.next
        // Stryker disable next-line BooleanLiteral: a heartbeat's answer does not say whether it applied
        return { result: report.next, applied: true }
      }
      case 'sweep': {
        const change = applySweep(state, now)
        // Stryker disable next-line ObjectLiteral: a sweep that did not apply answers null either way
        return change ? changed(change) : { result: state, applied: false }
      }
      case 'log': {
        const { next, lines, first } = applyLog(state, command.lines, now)
        tenant.logs.push({ statusId, first, lines })
        tenant.events.push({ type: 'status.log', statusId, version: next.version, lines, occurredAt: now })
        slot.state = next
        // Stryker disable next-line BooleanLiteral,ObjectLiteral: a log append answers its count of lines either way
        return { result: next, applied: true }
      }
    }
  }

  /**
   * SPEC §12: each parent whose children moved in the flush takes their moves at once, deepest level
   * first, so that a parent's own move reaches its parent in the same pass. A parent that already has a
   * change event in this flush (its own, or a cascade's) has its roll-up folded into that event, which
   * moves to the end: every parent gets at most one event per flush, after its children's.
   */
  function rollUp(tenant: TenantPlan, now: Date) {
    // Stryker disable next-line EqualityOperator: depth 1 is the roots, which have no parent to roll up into
    for (let depth = MAX_DEPTH; depth > 1; depth--) {
      const moves = new Map<string, ChildMove[]>()
      for (const [statusId, slot] of tenant.slots) {
        const child = slot.state ?? slot.initial
        if (child?.parent_id == null || child.depth !== depth) continue
        const move: ChildMove = { statusId, before: slot.initial, after: slot.state }
        // Stryker disable next-line ConditionalExpression: a move that moves no part of the summary changes nothing in it
        if (!movesPart(move)) continue
        const list = moves.get(child.parent_id) ?? []
        list.push(move)
        moves.set(child.parent_id, list)
      }
      for (const [parentId, list] of moves) {
        const parent = tenant.slots.get(parentId)
        // A parent deleted with (or before) its children keeps no summary.
        // Stryker disable next-line OptionalChaining: a child's parent is always loaded (load reads its ancestors)
        if (!parent?.state) continue
        const { next, change } = applyRollUp(parent.state, list, now)
        const last = parent.lastEvent
        if (change && last && last.state.version === parent.state.version) {
          // Folded: the same version, the event's record the state after, its changes both together.
          next.version = parent.state.version
          for (const [field, [, after]] of Object.entries(change.changes))
            last.changes[field] = [
              field in last.changes ? last.changes[field]![0] : change.changes[field]![0],
              after,
            ]
          if (last.type === 'status.progress') last.type = change.type
          Object.assign(parent.state, next)
          tenant.events.splice(tenant.events.indexOf(last), 1)
          tenant.events.push(last)
        } else {
          if (change) record(tenant, parent, change)
          parent.state = next
        }
      }
    }
  }

  /** Applies a batch in memory: each tenant's writes, and each waiter's outcome. */
  function plan(
    entries: Entry[],
    tenants: Map<string, TenantPlan>,
    stored: Map<string, Map<string, IdempotentResult>>,
    now: Date,
  ) {
    const outcomes: [Waiter, () => Outcome][] = []
    /** Results are taken once the roll-up is done, so that a folded parent answers with its summary. */
    const results: (() => void)[] = []
    for (const entry of entries) {
      const tenant = tenants.get(entry.tenantId)!
      const known = stored.get(entry.tenantId) ?? new Map<string, IdempotentResult>()
      stored.set(entry.tenantId, known)
      const slot = tenant.slots.get(entry.statusId)!
      for (const op of entry.ops) {
        const settle = (outcome: () => Outcome) => {
          for (const waiter of op.waiters) outcomes.push([waiter, outcome])
        }
        const key = op.idempotency?.key
        // Stryker disable next-line ConditionalExpression: known.get(undefined) is undefined too
        const replay = key === undefined ? undefined : known.get(key)
        if (replay) {
          const version = slot.state?.version ?? 0
          settle(() =>
            replay.fingerprint === op.idempotency!.fingerprint
              ? { ok: true, result: replay.body, version, replayed: true }
              : { ok: false, error: idempotencyKeyReused() },
          )
          continue
        }
        try {
          const { result: state, applied } = apply(tenant, entry.statusId, slot, op.command, now)
          const saved: IdempotentResult = {
            // Stryker disable next-line StringLiteral: a result without an Idempotency-Key is never stored, so its fingerprint is never compared
            fingerprint: op.idempotency?.fingerprint ?? '',
            statusCode: 200,
            body: null,
          }
          results.push(() => {
            saved.body = resultOf(op.command, state!, applied)
          })
          if (key !== undefined) {
            known.set(key, saved)
            tenant.saved.push({ key, result: saved })
          }
          const version = slot.state?.version ?? 0
          settle(() => ({ ok: true, result: saved.body, version, replayed: false }))
        } catch (err) {
          // Stryker disable next-line ConditionalExpression: apply throws AppErrors only; a bug's error reaches the waiter either way (thrown, the batch is retried one status at a time)
          if (!(err instanceof AppError)) throw err
          settle(() => ({ ok: false, error: err }))
        }
      }
    }
    for (const tenant of tenants.values()) rollUp(tenant, now)
    for (const result of results) result()
    return outcomes.map(([waiter, outcome]): [Waiter, Outcome] => [waiter, outcome()])
  }

  /**
   * Reads what a flush needs, in its transaction: its statuses, their ancestors (a child's move rolls
   * up, and a create checks its parent), and the descendants of those it cancels or deletes with
   * children; on PostgreSQL each locked as it is read.
   */
  async function load(tx: Db, tenantId: string, entries: Entry[]): Promise<TenantPlan> {
    const tenant: TenantPlan = { slots: new Map(), events: [], saved: [], logs: [] }
    const add = (found: Map<string, StoredStatus>, ids: Iterable<string>) => {
      for (const id of ids) {
        const state = found.get(id) ?? null
        if (!tenant.slots.has(id)) tenant.slots.set(id, { initial: state, state, deleted: false })
      }
    }
    const ids = entries.map((entry) => entry.statusId)
    add(await statusRepository.current(tx, tenantId, ids), ids)
    // Stryker disable next-line MethodExpression: reading the descendants of a status that has none reads nothing
    const cascading = entries
      .filter((entry) => tenant.slots.get(entry.statusId)!.initial?.children)
      .filter((entry) =>
        // Stryker disable next-line ConditionalExpression,LogicalOperator: reading descendants that are not needed reads only
        entry.ops.some(({ command: c }) => c.type === 'cancel' || (c.type === 'remove' && c.cascade)),
      )
      .map((entry) => entry.statusId)
    // Stryker disable next-line ConditionalExpression,EqualityOperator: descendants of none are none
    if (cascading.length > 0) {
      const found = await statusRepository.descendants(tx, tenantId, cascading)
      add(found, found.keys())
    }
    const parents = new Set<string>()
    for (const entry of entries)
      for (const { command } of entry.ops)
        if (command.type === 'create' && command.input.parent_id) parents.add(command.input.parent_id)
    // Stryker disable next-line EqualityOperator,UpdateOperator: the loop ends once no ancestor is missing, which a tree reaches
    for (let level = 0; level < MAX_DEPTH; level++) {
      for (const slot of tenant.slots.values())
        if (slot.initial?.parent_id) parents.add(slot.initial.parent_id)
      // Stryker disable next-line MethodExpression: a parent read again is not added again
      const missing = [...parents].filter((id) => !tenant.slots.has(id))
      // Stryker disable next-line ConditionalExpression: reading no ids reads nothing
      if (missing.length === 0) break
      add(await statusRepository.current(tx, tenantId, missing), missing)
    }
    return tenant
  }

  async function write(entries: Entry[]): Promise<[Waiter, Outcome][]> {
    const byTenant = new Map<string, { entries: Entry[]; keys: string[] }>()
    for (const entry of entries) {
      // Stryker disable next-line ArrayDeclaration: a key no request sent finds nothing stored
      const tenant = byTenant.get(entry.tenantId) ?? { entries: [], keys: [] }
      tenant.entries.push(entry)
      for (const op of entry.ops) if (op.idempotency) tenant.keys.push(op.idempotency.key)
      byTenant.set(entry.tenantId, tenant)
    }
    return db.write(async (tx) => {
      await statusRepository.lockForWrite(
        tx,
        // Stryker disable next-line all: on SQLite lockForWrite takes the write lock whatever the ids; the PostgreSQL suites test the row locks
        [...byTenant].map(([tenantId, t]) => ({
          tenantId,
          ids: t.entries.map((e) => e.statusId),
          keys: t.keys,
        })),
      )
      const now = clock()
      const notBefore = new Date(now.getTime() - options.idempotencyTtlMs)
      const tenants = new Map<string, TenantPlan>()
      const stored = new Map<string, Map<string, IdempotentResult>>()
      for (const [tenantId, { entries: own, keys }] of byTenant) {
        tenants.set(tenantId, await load(tx, tenantId, own))
        // Stryker disable next-line ConditionalExpression,EqualityOperator: looking up no keys finds none
        if (keys.length > 0) stored.set(tenantId, await idempotency.findMany(tx, tenantId, keys, notBefore))
      }
      const outcomes = plan(entries, tenants, stored, now)
      await commitWrites(tx, tenants, now)
      return outcomes
    })
  }

  async function commitWrites(tx: Db, tenants: Map<string, TenantPlan>, now: Date) {
    for (const [tenantId, tenant] of tenants) {
      // Stryker disable next-line ArrayDeclaration: deleting an id that is no status deletes nothing
      const deletes: string[] = []
      const inserts: StoredStatus[] = []
      const updates: { before: StoredStatus; next: StoredStatus }[] = []
      for (const [statusId, { initial, state, deleted }] of tenant.slots) {
        // A status deleted (and perhaps created again) goes first; what is left of it is written after.
        if (deleted && initial) deletes.push(statusId)
        if (state && (deleted || !initial)) inserts.push(state)
        // Stryker disable next-line ConditionalExpression: an unchanged status written again is the same row
        else if (state && initial && state !== initial) updates.push({ before: initial, next: state })
      }
      const events = tenant.events.map((event): NewEvent =>
        event.type === 'status.log'
          ? event
          : {
              type: event.type,
              status: toRecord(event.state),
              changes: event.changes,
              occurredAt: event.occurredAt,
            },
      )
      await statusRepository.removeMany(tx, tenantId, deletes)
      await statusRepository.insertMany(tx, tenantId, inserts)
      await statusRepository.updateMany(tx, tenantId, updates)
      await statusRepository.appendLogs(tx, tenantId, tenant.logs)
      await statusRepository.appendEvents(tx, tenantId, events)
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
      // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: written alone once more, a status that failed alone fails the same way; a COMMIT lost with its connection is the chaos suite's case
      const alone = entries.length > 1 && !isDatabaseUnavailable(err)
      if (alone)
        // Stryker disable next-line ConditionalExpression,ObjectLiteral,StringLiteral: whether and what it logs
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
    // Stryker disable next-line ObjectLiteral,StringLiteral: what it logs
    logger.error({ err, statusId: entry.statusId }, 'status write failed')
    return entry.ops.flatMap((op) =>
      op.waiters.map((waiter): [Waiter, Outcome] => [waiter, { ok: false, error: err }]),
    )
  }

  // Stryker disable all: bare heartbeats queued back to back are one op only to save work; written one
  // after another they give the same answers and the same row.
  const isBareHeartbeat = (command: Command) =>
    command.type === 'heartbeat' &&
    command.input.progress_percentage === undefined &&
    command.input.message === undefined
  // Stryker restore all

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
        // Stryker disable next-line ArrayDeclaration: a single command's fields are read only when later /batch items merge into it, and they merge into /batch items only
        fields: [],
        superseded: false,
        settle: (outcome) =>
          outcome.ok
            ? resolve({ result: outcome.result as CommandResults[C['type']], replayed: outcome.replayed })
            : reject(outcome.error),
      }
      const entry = entryOf(tenantId, statusId)
      // Stryker disable next-line ArithmeticOperator: without the last op nothing coalesces (see isBareHeartbeat)
      const last = entry.ops[entry.ops.length - 1]
      // Stryker disable next-line all: coalescing saves work only (see isBareHeartbeat)
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
    // Stryker disable next-line ConditionalExpression: clearing no timer does nothing; one left armed flushes early (timing only)
    if (timer) clearTimeout(timer)
    timer = null
    // Stryker disable next-line ConditionalExpression: clearing no immediate does nothing; one left armed runs a flush that finds the queue as it is (timing only)
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
      // Stryker disable next-line ConditionalExpression: the check after the lookup refuses it as well; this one saves the lookup
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
