import { createHash, randomUUID } from 'node:crypto'
import type { IdempotencyRepository } from '../db/idempotency-repository'
import type { Database, Db } from '../db/prisma'
import type { StatusRepository } from '../db/status-repository'
import type { ErrorInfo, StatusEvent, StatusRecord, StoredStatus } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import {
  applyCancel,
  applyError,
  applyUpdate,
  createStatus,
  type Change,
  type CreateInput,
  type UpdateInput,
} from '../domain/status-rules'
import { idempotencyKeyReused, statusExists, statusNotFound, versionMismatch, writeConflict } from '../errors'
import type { CursorCodec } from './cursor-codec'

export interface StatusServiceDeps {
  db: Database
  statuses: StatusRepository
  idempotency: IdempotencyRepository
  cursors: CursorCodec
  clock: () => Date
  idempotencyTtlMs: number
  /** Lost races in a row before a write gives up with `write-conflict`; each one means another write committed. */
  maxWriteAttempts?: number
  /** Called after every committed write, so the event manager delivers at once. */
  onCommitted?: () => void
}

export interface WriteOptions {
  idempotencyKey?: string
}

export interface UpdateOptions extends WriteOptions {
  expectedVersion?: number
}

/** What a write returns; `replayed` is true when an Idempotency-Key answered from the stored result. */
export interface Written<T> {
  result: T
  replayed: boolean
}

export interface UpdateResult {
  status: StatusRecord
  applied: boolean
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
  has_more: boolean
}

/** The status moved on between our read and our write. */
class StaleWrite extends Error {}

export function createStatusService(deps: StatusServiceDeps) {
  const { db, statuses, idempotency, cursors, clock, maxWriteAttempts = 50, onCommitted } = deps
  const transaction = async <T>(fn: (tx: Db) => Promise<T>): Promise<T> => {
    const result = await db.write(fn)
    onCommitted?.()
    return result
  }

  /** Runs `write` once per Idempotency-Key: the stored result answers a repeat with the same request. */
  async function once<T>(
    tx: Db,
    tenantId: string,
    options: WriteOptions,
    request: unknown,
    write: () => Promise<T>,
  ): Promise<Written<T>> {
    const key = options.idempotencyKey
    if (key === undefined) return { result: await write(), replayed: false }
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('hex')
    const now = clock()
    const stored = await idempotency.find(tx, tenantId, key, new Date(now.getTime() - deps.idempotencyTtlMs))
    if (stored) {
      if (stored.fingerprint !== fingerprint) throw idempotencyKeyReused()
      return { result: stored.body as T, replayed: true }
    }
    const result = await write()
    await idempotency.save(tx, tenantId, key, { fingerprint, statusCode: 200, body: result }, now)
    return { result, replayed: false }
  }

  /**
   * Reads the committed status, lets `decide` work out the change, and writes it only if the status is
   * still at the version that was read (optimistic concurrency: the transaction stays short and holds no
   * read). A lost race reads again; `decide` may be called more than once.
   */
  async function mutate<T>(
    tenantId: string,
    statusId: string,
    options: WriteOptions,
    request: unknown,
    decide: (tx: Db, current: StoredStatus) => Promise<T>,
  ): Promise<Written<T>> {
    for (let attempt = 1; ; attempt++) {
      const current = await statuses.get(tenantId, statusId)
      try {
        return await transaction((tx) =>
          once(tx, tenantId, options, request, () => {
            if (!current) throw statusNotFound(statusId)
            return decide(tx, current)
          }),
        )
      } catch (err) {
        if (!(err instanceof StaleWrite)) throw err
        if (attempt >= maxWriteAttempts) throw writeConflict(statusId)
      }
    }
  }

  async function commit(tx: Db, tenantId: string, change: Change, from: StoredStatus): Promise<StatusRecord> {
    if (!(await statuses.replace(tx, tenantId, change.next, from))) throw new StaleWrite()
    const record = toRecord(change.next)
    await statuses.appendEvent(tx, tenantId, {
      type: change.type,
      status: record,
      changes: change.changes,
      occurredAt: change.next.updated_at,
    })
    return record
  }

  return {
    async create(
      tenantId: string,
      input: Omit<CreateInput, 'status_id'> & { status_id?: string },
      options: WriteOptions = {},
    ) {
      return transaction((tx) =>
        once(tx, tenantId, options, ['create', input], async () => {
          const statusId = input.status_id ?? randomUUID()
          const created = createStatus({ ...input, status_id: statusId }, clock())
          if (!(await statuses.insert(tx, tenantId, created))) throw statusExists(statusId)
          const record = toRecord(created)
          await statuses.appendEvent(tx, tenantId, {
            type: 'status.created',
            status: record,
            changes: {},
            occurredAt: created.created_at,
          })
          return record
        }),
      )
    },

    async get(tenantId: string, statusId: string): Promise<StatusRecord> {
      const found = await statuses.get(tenantId, statusId)
      if (!found) throw statusNotFound(statusId)
      return toRecord(found)
    },

    async update(tenantId: string, statusId: string, input: UpdateInput, options: UpdateOptions = {}) {
      const request = ['update', statusId, input, options.expectedVersion]
      return mutate(tenantId, statusId, options, request, async (tx, current): Promise<UpdateResult> => {
        if (options.expectedVersion !== undefined && options.expectedVersion !== current.version) {
          throw versionMismatch(options.expectedVersion, current.version)
        }
        // Out-of-order delivery: an older report never moves the status backwards.
        if (input.reported_at && current.last_reported_at && input.reported_at < current.last_reported_at) {
          return { status: toRecord(current), applied: false }
        }
        const change = applyUpdate(current, input, clock())
        if (change) return { status: await commit(tx, tenantId, change, current), applied: true }
        // Nothing visible changed, but this report was applied: later reports older than it must still lose.
        if (
          input.reported_at &&
          !(current.last_reported_at && input.reported_at <= current.last_reported_at)
        ) {
          const noted = { ...current, last_reported_at: input.reported_at }
          if (!(await statuses.replace(tx, tenantId, noted, current))) throw new StaleWrite()
        }
        return { status: toRecord(current), applied: true }
      })
    },

    async recordError(
      tenantId: string,
      statusId: string,
      error: ErrorInfo,
      shouldRetry: boolean,
      options: WriteOptions = {},
    ) {
      return mutate(tenantId, statusId, options, ['error', statusId, error, shouldRetry], (tx, current) =>
        commit(tx, tenantId, applyError(current, error, shouldRetry, clock()), current),
      )
    },

    async cancel(tenantId: string, statusId: string, options: WriteOptions = {}) {
      return mutate(tenantId, statusId, options, ['cancel', statusId], (tx, current) =>
        commit(tx, tenantId, applyCancel(current, clock()), current),
      )
    },

    async remove(tenantId: string, statusId: string): Promise<void> {
      await mutate(tenantId, statusId, {}, null, async (tx, current) => {
        if (!(await statuses.remove(tx, tenantId, statusId, current.version))) throw new StaleWrite()
        const now = clock()
        const last = { ...toRecord(current), version: current.version + 1, updated_at: now }
        await statuses.appendEvent(tx, tenantId, {
          type: 'status.deleted',
          status: last,
          changes: {},
          occurredAt: now,
        })
      })
    },

    /** The status's events, oldest first; still readable after the status is deleted. */
    async history(
      tenantId: string,
      statusId: string,
      page: { limit: number; cursor?: string },
    ): Promise<Page<StatusEvent>> {
      const scope = `history:${statusId}`
      const afterSeq = page.cursor === undefined ? 0 : Number(cursors.decode(scope, page.cursor)[0])
      const rows = await statuses.events(db.read, tenantId, { afterSeq, limit: page.limit + 1 }, statusId)
      if (rows.length === 0 && afterSeq === 0 && !(await statuses.get(tenantId, statusId)))
        throw statusNotFound(statusId)
      const items = rows.slice(0, page.limit)
      const has_more = rows.length > page.limit
      const next_cursor = has_more ? cursors.encode(scope, [items[items.length - 1]!.seq]) : null
      return { items, next_cursor, has_more }
    },

    /** The tenant's feed in `seq` order, for consumers catching up. */
    async events(tenantId: string, page: { afterSeq: number; limit: number }) {
      const rows = await statuses.events(db.read, tenantId, {
        afterSeq: page.afterSeq,
        limit: page.limit + 1,
      })
      const items = rows.slice(0, page.limit)
      return {
        items,
        next_after_seq: items.length > 0 ? items[items.length - 1]!.seq : page.afterSeq,
        has_more: rows.length > page.limit,
      }
    },
  }
}

export type StatusService = ReturnType<typeof createStatusService>
