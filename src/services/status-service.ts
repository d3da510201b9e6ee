import { createHash, randomUUID } from 'node:crypto'
import type { Database } from '../db/prisma'
import type { SnapshotSelector, StatusRepository } from '../db/status-repository'
import type { ErrorInfo, LogLine, StatusChangeEvent, StatusRecord } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import type { CreateInput, LogInput, UpdateInput } from '../domain/status-rules'
import { statusNotFound } from '../errors'
import type { CursorCodec } from './cursor-codec'
import type {
  Command,
  HeartbeatResult,
  Idempotency,
  StatusUpdater,
  UpdateResult,
  Written,
} from './status-updater'
import type { StatusWaiters, WaitRequest, WaitResult } from './status-waiters'

export type { UpdateResult, Written } from './status-updater'

export interface StatusServiceDeps {
  db: Database
  statusRepository: StatusRepository
  /** The one writer: every mutation below is a command to it. */
  updater: StatusUpdater
  cursors: CursorCodec
  waiters: StatusWaiters
}

export interface WriteOptions {
  idempotencyKey?: string
}

export interface UpdateOptions extends WriteOptions {
  expectedVersion?: number
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
  has_more: boolean
}

export function createStatusService(deps: StatusServiceDeps) {
  const { db, statusRepository, updater, cursors, waiters } = deps

  const idempotencyOf = (options: WriteOptions, request: unknown): Idempotency | undefined =>
    options.idempotencyKey === undefined
      ? undefined
      : {
          key: options.idempotencyKey,
          fingerprint: createHash('sha256').update(JSON.stringify(request)).digest('hex'),
        }

  /**
   * A command to an existing status. An unknown id is answered here, from a committed read, without
   * queuing for the writer; with an Idempotency-Key the writer decides, since a stored result answers
   * a repeat even after the status is gone.
   */
  async function mutate<C extends Command>(
    tenantId: string,
    statusId: string,
    command: C,
    options: WriteOptions,
    request: unknown,
  ) {
    const idempotent = idempotencyOf(options, request)
    if (!idempotent && !(await statusRepository.get(tenantId, statusId))) throw statusNotFound(statusId)
    return updater.execute(tenantId, statusId, command, idempotent)
  }

  return {
    create(
      tenantId: string,
      input: Omit<CreateInput, 'status_id'> & { status_id?: string },
      options: WriteOptions = {},
    ): Promise<Written<StatusRecord>> {
      const statusId = input.status_id ?? randomUUID()
      return updater.execute(
        tenantId,
        statusId,
        { type: 'create', input: { ...input, status_id: statusId } },
        idempotencyOf(options, ['create', input]),
      )
    },

    /** The ids of a status's descendants (at most `limit`): a browser token's tree (SPEC §13). */
    descendantIds: (tenantId: string, rootId: string, limit: number) =>
      statusRepository.descendantIds(tenantId, rootId, limit),

    /** The statuses a live subscription starts from, and the feed's `seq` they reflect (one snapshot). */
    snapshot: (tenantId: string, selector: SnapshotSelector) => statusRepository.snapshot(tenantId, selector),

    async get(tenantId: string, statusId: string): Promise<StatusRecord> {
      const found = await statusRepository.get(tenantId, statusId)
      if (!found) throw statusNotFound(statusId)
      return toRecord(found)
    },

    update(
      tenantId: string,
      statusId: string,
      input: UpdateInput,
      options: UpdateOptions = {},
    ): Promise<Written<UpdateResult>> {
      const request = ['update', statusId, input, options.expectedVersion]
      const command = { type: 'update', input, expectedVersion: options.expectedVersion } as const
      return mutate(tenantId, statusId, command, options, request)
    },

    recordError(
      tenantId: string,
      statusId: string,
      error: ErrorInfo,
      shouldRetry: boolean,
      options: WriteOptions = {},
    ): Promise<Written<StatusRecord>> {
      const request = ['error', statusId, error, shouldRetry]
      return mutate(tenantId, statusId, { type: 'error', error, shouldRetry } as const, options, request)
    },

    cancel(tenantId: string, statusId: string, options: WriteOptions = {}): Promise<Written<StatusRecord>> {
      return mutate(tenantId, statusId, { type: 'cancel' } as const, options, ['cancel', statusId])
    },

    /**
     * A producer's heartbeat (SPEC §11): bare ones of many statuses are written together, a flush at a
     * time, and change neither the version nor the feed; with a progress or message it is an update.
     */
    async heartbeat(
      tenantId: string,
      statusId: string,
      input: { progress_percentage?: number; message?: string },
    ): Promise<HeartbeatResult> {
      // No read first: the writer reads each status of a flush anyway, and answers an unknown id 404.
      return (await updater.later(tenantId, statusId, { type: 'heartbeat', input })).result
    },

    /** A long poll on one status: answered when it is terminal or changed, or at the timeout. */
    wait: (request: WaitRequest): Promise<WaitResult> => waiters.wait(request),

    /** A status with children is refused (`has-children`) unless `cascade`, which deletes them too. */
    async remove(tenantId: string, statusId: string, { cascade = false } = {}): Promise<void> {
      await mutate(tenantId, statusId, { type: 'remove', cascade } as const, {}, null)
    },

    /**
     * SPEC §14: lines appended to the status's log, through the writer with other writes (a flush at a
     * time), each append one `status.log` event. 404 for an unknown status.
     */
    async appendLogs(tenantId: string, statusId: string, lines: LogInput[]): Promise<{ accepted: number }> {
      return (await updater.later(tenantId, statusId, { type: 'log', lines })).result
    },

    /** The status's kept log lines, oldest first, a page at a time. */
    async logs(
      tenantId: string,
      statusId: string,
      page: { limit: number; cursor?: string },
    ): Promise<Page<LogLine>> {
      const scope = `logs:${statusId}`
      const afterN = page.cursor === undefined ? 0 : Number(cursors.decode(scope, page.cursor)[0])
      const rows = await statusRepository.logPage(tenantId, statusId, afterN, page.limit + 1)
      if (rows.length === 0 && afterN === 0 && !(await statusRepository.get(tenantId, statusId)))
        throw statusNotFound(statusId)
      const items = rows.slice(0, page.limit)
      const has_more = rows.length > page.limit
      const next_cursor = has_more ? cursors.encode(scope, [items[items.length - 1]!.n]) : null
      return { items: items.map((row) => row.line), next_cursor, has_more }
    },

    /** The status's change events, oldest first; still readable after the status is deleted. */
    async history(
      tenantId: string,
      statusId: string,
      page: { limit: number; cursor?: string },
    ): Promise<Page<StatusChangeEvent>> {
      const scope = `history:${statusId}`
      const afterSeq = page.cursor === undefined ? 0 : Number(cursors.decode(scope, page.cursor)[0])
      const rows = await statusRepository.eventPage(
        db.read,
        tenantId,
        { afterSeq, limit: page.limit + 1 },
        statusId,
      )
      if (rows.length === 0 && afterSeq === 0 && !(await statusRepository.get(tenantId, statusId)))
        throw statusNotFound(statusId)
      // eventPage leaves the log's events out of a status's history.
      const items = rows.slice(0, page.limit) as StatusChangeEvent[]
      const has_more = rows.length > page.limit
      const next_cursor = has_more ? cursors.encode(scope, [items[items.length - 1]!.seq]) : null
      return { items, next_cursor, has_more }
    },

    /** The tenant's feed in `seq` order, for consumers catching up. */
    async feed(tenantId: string, page: { afterSeq: number; limit: number }) {
      const rows = await statusRepository.eventPage(db.read, tenantId, {
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
