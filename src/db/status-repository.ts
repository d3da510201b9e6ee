import { v7 as uuidv7 } from 'uuid'
import type {
  ChangeEventType,
  ChildFailurePolicy,
  ChildrenSummary,
  ChildrenTally,
  Changes,
  LogLine,
  StatusEvent,
  StatusRecord,
  StoredStatus,
} from '../domain/status-record'
import type { SelectorFilter } from '../domain/event-selector'
import { toRecord } from '../domain/status-record'

import { priorityRank, type PriorityValue, type StatusValue } from '../domain/transitions'
import type { JsonColumn } from './dialect'
import type { Status as StatusRow, StatusEvent as EventRow } from './generated/client'
import { Prisma } from './generated/client'
import type { Database, Db } from './prisma'

export function rowToStatus(row: StatusRow): StoredStatus {
  return {
    status_id: row.statusId,
    kind: row.kind,
    resource_id: row.resourceId,
    status: row.status as StatusValue,
    priority: row.priority as PriorityValue,
    progress_percentage: row.progress,
    message: row.message,
    steps_completed: row.stepsCompleted,
    steps_total: row.stepsTotal,
    error_info: row.errorInfo === null ? null : JSON.parse(row.errorInfo),
    retry_count: row.retryCount,
    max_retries: row.maxRetries,
    metadata: JSON.parse(row.metadata),
    tags: JSON.parse(row.tags),
    version: row.version,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    started_at: row.startedAt,
    completed_at: row.completedAt,
    estimated_completion_at: row.estimatedCompletionAt,
    heartbeat_timeout_s: row.heartbeatTimeoutS,
    start_by: row.startBy,
    deadline_at: row.deadlineAt,
    last_heartbeat_at: row.lastHeartbeatAt,
    last_reported_at: row.lastReportedAt,
    stalls_at: row.stallsAt,
    overdue_at: row.overdueAt,
    due_at: row.dueAt,
    log_lines: row.logLines ?? 0,
    parent_id: row.parentId,
    weight: row.weight ?? 1,
    on_child_failure: (row.onChildFailure as ChildFailurePolicy | null) ?? 'continue',
    complete_with_children: row.completeWithChildren === 1,
    depth: row.depth ?? 1,
    ...childrenOf(row.children),
  }
}

/** The `children` column: the summary with the sums it is kept from, as one JSON object. */
interface StoredChildren extends ChildrenSummary {
  tally: ChildrenTally
}

function childrenOf(column: string | null): Pick<StoredStatus, 'children' | 'children_tally'> {
  if (column === null) return { children: null, children_tally: null }
  const { tally, ...children } = JSON.parse(column) as StoredChildren
  return { children, children_tally: tally }
}

function childrenColumn(s: StoredStatus): string | null {
  if (s.children === null || s.children_tally === null) return null
  return JSON.stringify({ ...s.children, tally: s.children_tally } satisfies StoredChildren)
}

function statusToRow(tenantId: string, s: StoredStatus): StatusRow {
  return {
    tenantId,
    statusId: s.status_id,
    kind: s.kind,
    resourceId: s.resource_id,
    status: s.status,
    priority: s.priority,
    priorityRank: priorityRank(s.priority),
    progress: s.progress_percentage,
    message: s.message,
    stepsCompleted: s.steps_completed,
    stepsTotal: s.steps_total,
    errorInfo: s.error_info === null ? null : JSON.stringify(s.error_info),
    retryCount: s.retry_count,
    maxRetries: s.max_retries,
    metadata: JSON.stringify(s.metadata),
    tags: JSON.stringify(s.tags),
    version: s.version,
    createdAt: s.created_at,
    updatedAt: s.updated_at,
    startedAt: s.started_at,
    completedAt: s.completed_at,
    estimatedCompletionAt: s.estimated_completion_at,
    lastReportedAt: s.last_reported_at,
    heartbeatTimeoutS: s.heartbeat_timeout_s,
    startBy: s.start_by,
    deadlineAt: s.deadline_at,
    lastHeartbeatAt: s.last_heartbeat_at,
    stallsAt: s.stalls_at,
    overdueAt: s.overdue_at,
    dueAt: s.due_at,
    logLines: s.log_lines === 0 ? null : s.log_lines,
    parentId: s.parent_id,
    weight: s.weight === 1 ? null : s.weight,
    onChildFailure: s.on_child_failure === 'continue' ? null : s.on_child_failure,
    completeWithChildren: s.complete_with_children ? 1 : null,
    depth: s.depth === 1 ? null : s.depth,
    children: childrenColumn(s),
  }
}

/** A stored event as the feed hands it on: a change with its record, or a log's lines (SPEC §14). */
export function eventOf(
  row: Pick<
    EventRow,
    'eventId' | 'type' | 'statusId' | 'version' | 'occurredAt' | 'changes' | 'record' | 'lines'
  > & { seq: bigint | number },
): StatusEvent {
  const common = {
    event_id: row.eventId,
    seq: Number(row.seq),
    status_id: row.statusId,
    version: row.version,
    occurred_at: row.occurredAt,
  }
  if (row.type === 'status.log')
    return { ...common, type: 'status.log', lines: JSON.parse(row.lines ?? '[]') }
  return {
    ...common,
    type: row.type as ChangeEventType,
    changes: JSON.parse(row.changes),
    status: JSON.parse(row.record),
  }
}

export const rowToEvent = (row: EventRow): StatusEvent => eventOf(row)

/** Lines of one status's log, numbered from `first` on. */
export interface NewLog {
  statusId: string
  first: number
  lines: LogLine[]
}

/** SPEC §14: the newest this many lines of each status are kept. */
export const LOG_LINES_KEPT = 1000

/** What the writer appends to the feed: a change and the record after it, or lines of a status's log. */
export type NewEvent =
  | { type: ChangeEventType; status: StatusRecord; changes: Changes; occurredAt: Date }
  | { type: 'status.log'; statusId: string; version: number; lines: LogLine[]; occurredAt: Date }

export interface SnapshotSelector {
  ids?: string[]
  filter?: SelectorFilter
  limit: number
  /** The time `stalled` and `overdue` are judged at. */
  now?: Date
}

export interface SeqPage {
  afterSeq: number
  limit: number
}

/**
 * The statuses table, once: each column with the Prisma field it maps to and how it travels in JSON
 * rows. The INSERT column list, the JSON row types, the upsert's SET list, the SELECT's aliases and
 * the rows of `insertMany` and `updateMany` are all made from it, and so are the seeding script's bulk loads.
 */
export const STATUS_COLUMNS_TABLE = [
  ['tenant_id', 'tenantId', 'text'],
  ['status_id', 'statusId', 'text'],
  ['kind', 'kind', 'text'],
  ['resource_id', 'resourceId', 'text'],
  ['status', 'status', 'text'],
  ['priority', 'priority', 'text'],
  ['priority_rank', 'priorityRank', 'int'],
  ['progress', 'progress', 'float'],
  ['message', 'message', 'text'],
  ['steps_completed', 'stepsCompleted', 'int'],
  ['steps_total', 'stepsTotal', 'int'],
  ['error_info', 'errorInfo', 'text'],
  ['retry_count', 'retryCount', 'int'],
  ['max_retries', 'maxRetries', 'int'],
  ['metadata', 'metadata', 'text'],
  ['tags', 'tags', 'text'],
  ['version', 'version', 'int'],
  ['created_at', 'createdAt', 'time'],
  ['updated_at', 'updatedAt', 'time'],
  ['started_at', 'startedAt', 'time'],
  ['completed_at', 'completedAt', 'time'],
  ['estimated_completion_at', 'estimatedCompletionAt', 'time'],
  ['last_reported_at', 'lastReportedAt', 'time'],
  ['heartbeat_timeout_s', 'heartbeatTimeoutS', 'int'],
  ['start_by', 'startBy', 'time'],
  ['deadline_at', 'deadlineAt', 'time'],
  ['last_heartbeat_at', 'lastHeartbeatAt', 'time'],
  ['stalls_at', 'stallsAt', 'time'],
  ['overdue_at', 'overdueAt', 'time'],
  ['due_at', 'dueAt', 'time'],
  ['log_lines', 'logLines', 'int'],
  ['parent_id', 'parentId', 'text'],
  ['weight', 'weight', 'float'],
  ['on_child_failure', 'onChildFailure', 'text'],
  ['complete_with_children', 'completeWithChildren', 'int'],
  ['depth', 'depth', 'int'],
  ['children', 'children', 'text'],
] as const satisfies readonly (readonly [string, keyof StatusRow, JsonColumn])[]
const COLUMNS = STATUS_COLUMNS_TABLE

const STATUS_COLUMNS = COLUMNS.map(([column]) => column).join(', ')
/** The columns after tenant_id, as they travel in JSON rows. */
const ROW_COLUMNS = COLUMNS.slice(1)
const STATUS_JSON: readonly JsonColumn[] = ROW_COLUMNS.map(([, , json]) => json)
/** An upsert keeps the key and the creation time. */
const UPSERT_SET = ROW_COLUMNS.filter(([column]) => column !== 'status_id' && column !== 'created_at')
  .map(([column]) => `${column} = excluded.${column}`)
  .join(', ')

type Column = (typeof COLUMNS)[number]
const STATUS_ID_COLUMN = COLUMNS.find(([column]) => column === 'status_id')!
/** What an update may change: all but the key and the creation time. */
const UPDATABLE: readonly Column[] = ROW_COLUMNS.filter(
  ([column]) => column !== 'status_id' && column !== 'created_at',
)

const sameValue = (a: unknown, b: unknown) =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b

// Quoted aliases give the raw row Prisma's field names (PostgreSQL would fold unquoted ones to lower
// case), so one mapping serves both paths.
const SELECT_STATUS = `SELECT ${COLUMNS.map(([column, field]) =>
  column === field ? column : `${column} AS "${field}"`,
).join(', ')} FROM statuses`
const EVENT_JSON: readonly JsonColumn[] = [
  'bigint',
  'text',
  'text',
  'text',
  'int',
  'time',
  'text',
  'text',
  'text',
]
const WHERE_ONE = ' WHERE tenant_id = ? AND status_id = ?'
const LOG_JSON: readonly JsonColumn[] = ['text', 'int', 'time', 'text', 'text', 'text']

const DATE_FIELDS = COLUMNS.filter(([, , json]) => json === 'time').map(([, field]) => field)

/** Times arrive as text (SQLite) or Dates (PostgreSQL); `new Date()` takes either. */
function rawToRow(raw: Record<string, unknown>): StatusRow {
  for (const field of DATE_FIELDS) {
    const value = raw[field]
    if (value !== null) raw[field] = new Date(value as string | Date)
  }
  return raw as unknown as StatusRow
}

/**
 * Persistence of statuses and their events. The writer (StatusUpdater) is their only writer: it takes
 * its statuses' turns (`lockForWrite`), reads them (`current`) and writes a whole flush with a few
 * set-based statements, all in one transaction (`db`).
 * `get` is the hot committed point read on the direct connection.
 */
export function createStatusRepository(database: Pick<Database, 'direct' | 'dialect'>) {
  const { direct, dialect } = database
  /** A row's values for `columns`, as they travel in JSON rows. */
  const jsonRow = (row: StatusRow, columns: readonly Column[]): unknown[] =>
    columns.map(([, field, json]) =>
      json === 'time' ? dialect.jsonTime(row[field] as Date | null) : row[field],
    )
  const selectStatus = SELECT_STATUS + WHERE_ONE
  const selectExisting = `SELECT status_id FROM statuses WHERE tenant_id = ? AND status_id IN (${dialect.jsonStringsDirect})`
  const selectMany = `${SELECT_STATUS} WHERE tenant_id = ? AND status_id IN (${dialect.jsonStringsDirect})`

  /**
   * Allocates the tenant's next `seq` numbers under the tenant row's write lock, so readers never see
   * gaps, and inserts the events in that order.
   */
  async function appendEvents(db: Db, tenantId: string, batch: NewEvent[]): Promise<StatusEvent[]> {
    if (batch.length === 0) return []
    const [bumped] = await db.$queryRaw<{ last_seq: bigint | number }[]>`UPDATE tenants
      SET last_seq = last_seq + ${batch.length} WHERE id = ${tenantId} RETURNING last_seq`
    if (!bumped) throw new Error(`Tenant ${tenantId} does not exist`)
    const first = Number(bumped.last_seq) - batch.length + 1
    const stored = batch.map((event, i): StatusEvent => {
      const common = { event_id: uuidv7(), seq: first + i, occurred_at: event.occurredAt }
      return event.type === 'status.log'
        ? {
            ...common,
            type: event.type,
            status_id: event.statusId,
            version: event.version,
            lines: event.lines,
          }
        : {
            ...common,
            type: event.type,
            status_id: event.status.status_id,
            version: event.status.version,
            changes: event.changes,
            status: event.status,
          }
    })
    const rows = stored.map((e) => {
      const log = e.type === 'status.log'
      return [
        e.seq,
        e.event_id,
        e.type,
        e.status_id,
        e.version,
        dialect.jsonTime(e.occurred_at),
        log ? '{}' : JSON.stringify(e.changes),
        log ? '{}' : JSON.stringify(e.status),
        log ? JSON.stringify(e.lines) : null,
      ]
    })
    await db.$executeRaw`INSERT INTO status_events (tenant_id, seq, event_id, type, status_id, version,
      occurred_at, changes, record, lines) ${dialect.selectJsonRows(Prisma.sql`${tenantId}`, rows, EVENT_JSON)}`
    return stored
  }

  return {
    async get(tenantId: string, statusId: string): Promise<StoredStatus | null> {
      const raw = await direct.get<Record<string, unknown>>(selectStatus, [tenantId, statusId])
      return raw === undefined ? null : rowToStatus(rawToRow(raw))
    },

    /**
     * The stored states of `ids` for a writing transaction: on PostgreSQL read in it and locked (in id
     * order, so two batches cannot deadlock) until it commits; on SQLite, where this process's writes
     * are serialised on the writer, the committed rows cannot change before it commits.
     */
    async current(db: Db, tenantId: string, ids: string[]): Promise<Map<string, StoredStatus>> {
      const rows =
        dialect.provider === 'sqlite'
          ? await direct.all<Record<string, unknown>>(selectMany, [tenantId, JSON.stringify(ids)])
          : await db.$queryRaw<Record<string, unknown>[]>`${Prisma.raw(SELECT_STATUS)}
              WHERE tenant_id = ${tenantId} AND status_id IN (${dialect.jsonStrings(ids)})
              ORDER BY status_id${dialect.forUpdate}`
      const found = new Map<string, StoredStatus>()
      for (const raw of rows) if (raw) found.set(raw.statusId as string, rowToStatus(rawToRow(raw)))
      return found
    },

    /** The status and its ancestors, nearest first (a tree has at most 5 levels); empty when unknown. */
    async lineage(tenantId: string, statusId: string): Promise<string[]> {
      const rows = await direct.all<{ id: string }>(
        `WITH RECURSIVE up(id, parent) AS (
          SELECT status_id, parent_id FROM statuses WHERE tenant_id = ? AND status_id = ?
          UNION ALL SELECT s.status_id, s.parent_id FROM statuses s JOIN up ON s.status_id = up.parent
            WHERE s.tenant_id = ?)
        SELECT id FROM up`,
        [tenantId, statusId, tenantId],
      )
      return rows.map((row) => row.id)
    },

    /** The ids of `rootId`'s descendants, at most `limit` of them, read on the direct connection. */
    async descendantIds(tenantId: string, rootId: string, limit: number): Promise<string[]> {
      const rows = await direct.all<{ id: string }>(
        `WITH RECURSIVE tree(id) AS (
          SELECT status_id FROM statuses WHERE tenant_id = ? AND parent_id = ?
          UNION SELECT s.status_id FROM statuses s JOIN tree ON s.parent_id = tree.id WHERE s.tenant_id = ?)
        SELECT id FROM tree LIMIT ?`,
        [tenantId, rootId, tenantId, limit],
      )
      return rows.map((row) => row.id)
    },

    /**
     * Every descendant of `ids` (SPEC §12: cancel and delete cascade), read and locked as `current` reads
     * its statuses: children, their children, and so on (a tree is at most 5 levels deep).
     */
    async descendants(db: Db, tenantId: string, ids: string[]): Promise<Map<string, StoredStatus>> {
      const found = new Map<string, StoredStatus>()
      if (ids.length === 0) return found
      const tree = `WITH RECURSIVE tree(id) AS (
          SELECT status_id FROM statuses WHERE tenant_id = ? AND parent_id IN (${dialect.jsonStringsDirect})
          UNION SELECT s.status_id FROM statuses s JOIN tree ON s.parent_id = tree.id WHERE s.tenant_id = ?)`
      const rows =
        dialect.provider === 'sqlite'
          ? await direct.all<Record<string, unknown>>(
              `${tree} ${SELECT_STATUS} WHERE tenant_id = ? AND status_id IN (SELECT id FROM tree)`,
              [tenantId, JSON.stringify(ids), tenantId, tenantId],
            )
          : await db.$queryRaw<Record<string, unknown>[]>`WITH RECURSIVE tree(id) AS (
              SELECT status_id FROM statuses WHERE tenant_id = ${tenantId}
                AND parent_id IN (${dialect.jsonStrings(ids)})
              UNION SELECT s.status_id FROM statuses s JOIN tree ON s.parent_id = tree.id
                WHERE s.tenant_id = ${tenantId})
              ${Prisma.raw(SELECT_STATUS)} WHERE tenant_id = ${tenantId}
              AND status_id IN (SELECT id FROM tree) ORDER BY status_id${dialect.forUpdate}`
      for (const raw of rows) found.set(raw.statusId as string, rowToStatus(rawToRow(raw)))
      return found
    },

    /**
     * The statuses a subscriber asked for, and the feed's `seq` they reflect, read in one snapshot
     * so that exactly the events after `seq` are missing from them.
     */
    snapshot(tenantId: string, selector: SnapshotSelector): Promise<{ seq: number; items: StatusRecord[] }> {
      return direct.consistent(async (reads) => {
        const head = await reads.get<{ last_seq: number }>('SELECT last_seq FROM tenants WHERE id = ?', [
          tenantId,
        ])
        const seq = Number(head?.last_seq ?? 0)
        let rows: Record<string, unknown>[]
        if (selector.ids) {
          // One at a time: a connection runs one query at a time anyway, and pg 9 refuses a queue of them.
          rows = []
          for (const id of selector.ids) {
            const row = await reads.get<Record<string, unknown>>(selectStatus, [tenantId, id])
            if (row) rows.push(row)
          }
        } else {
          const clauses = ['tenant_id = ?']
          const params: unknown[] = [tenantId]
          const where = (clause: string, values: unknown[]) => {
            clauses.push(clause)
            params.push(...values)
          }
          const f = selector.filter ?? {}
          const list = (values: string[]) => values.map(() => '?').join(', ')
          if (f.status?.length) where(`status IN (${list(f.status)})`, f.status)
          if (f.priority?.length) where(`priority IN (${list(f.priority)})`, f.priority)
          if (f.kind !== undefined) where('kind = ?', [f.kind])
          if (f.parent_id !== undefined) where('parent_id = ?', [f.parent_id])
          const now = dialect.jsonTime(selector.now ?? new Date())
          if (f.stalled) where('stalls_at <= ?', [now])
          if (f.overdue) where('overdue_at <= ?', [now])
          rows = await reads.all<Record<string, unknown>>(
            `${SELECT_STATUS} WHERE ${clauses.join(' AND ')} ORDER BY updated_at DESC, status_id DESC LIMIT ?`,
            [...params, selector.limit],
          )
        }
        return { seq, items: rows.map((row) => toRecord(rowToStatus(rawToRow(row)))) }
      })
    },

    /**
     * Statuses due at `now` (SPEC §11), across tenants, soonest first: read through the `due_at` index,
     * never a scan of all statuses.
     */
    async due(now: Date, limit: number): Promise<{ tenantId: string; statusId: string; dueAt: Date }[]> {
      const rows = await direct.all<{ tenant_id: string; status_id: string; due_at: string | Date }>(
        'SELECT tenant_id, status_id, due_at FROM statuses WHERE due_at <= ? ORDER BY due_at LIMIT ?',
        [dialect.jsonTime(now), limit],
      )
      return rows.map((r) => ({ tenantId: r.tenant_id, statusId: r.status_id, dueAt: new Date(r.due_at) }))
    },

    /** Which of `ids` the tenant has. */
    async existing(tenantId: string, ids: string[]): Promise<Set<string>> {
      const rows = await direct.all<{ status_id: string }>(selectExisting, [tenantId, JSON.stringify(ids)])
      return new Set(rows.map((row) => row.status_id))
    },

    /**
     * Makes concurrent writers of the same statuses and Idempotency-Keys take turns until commit, on
     * PostgreSQL, where instances write side by side: a status that does not exist yet has no row to
     * lock. On SQLite it takes the file's write lock at once, with a write that changes nothing: the
     * transaction would otherwise take it only at its first change, and another process on the same
     * file (a second instance) could commit between the reads of `current` and this commit.
     */
    async lockForWrite(
      db: Db,
      tenants: { tenantId: string; ids: string[]; keys: string[] }[],
    ): Promise<void> {
      if (dialect.provider === 'sqlite') {
        await db.$executeRawUnsafe('UPDATE tenants SET last_seq = last_seq WHERE 0')
        return
      }
      const turns = dialect.serialise(
        tenants.flatMap(({ tenantId, ids, keys }) => [
          ...ids.map((id) => `status:${tenantId}:${id}`),
          ...keys.map((key) => `idempotency:${tenantId}:${key}`),
        ]),
      )
      if (turns) await db.$queryRaw(turns)
    },

    /** Deletes these statuses (their events stay, for history). */
    async removeMany(db: Db, tenantId: string, ids: string[]): Promise<void> {
      if (ids.length === 0) return
      await db.$executeRaw`DELETE FROM statuses WHERE tenant_id = ${tenantId}
        AND status_id IN (${dialect.jsonStrings(ids)})`
      // Its log goes with it (SPEC §14); a status made again under the id starts a new one.
      await db.$executeRaw`DELETE FROM status_logs WHERE tenant_id = ${tenantId}
        AND status_id IN (${dialect.jsonStrings(ids)})`
    },

    /** Writes new statuses in one statement (the writer's flush); one that exists is overwritten. */
    async insertMany(db: Db, tenantId: string, batch: StoredStatus[]): Promise<void> {
      if (batch.length === 0) return
      const rows = batch.map((status) => jsonRow(statusToRow(tenantId, status), ROW_COLUMNS))
      // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
      await db.$executeRaw`INSERT INTO statuses (${Prisma.raw(STATUS_COLUMNS)})
        ${dialect.selectJsonRows(Prisma.sql`${tenantId}`, rows, STATUS_JSON)} WHERE true
        ON CONFLICT (tenant_id, status_id) DO UPDATE SET ${Prisma.raw(UPSERT_SET)}`
    },

    /**
     * Writes changed statuses in one UPDATE of only the columns that changed in any of them (`before` is
     * each one's stored state). A progress update sets four or five columns rather than twenty, and the
     * indexes and triggers of the others are never touched.
     */
    async updateMany(db: Db, tenantId: string, batch: { before: StoredStatus; next: StoredStatus }[]) {
      if (batch.length === 0) return
      const rows = batch.map(({ before, next }) => [
        statusToRow(tenantId, before),
        statusToRow(tenantId, next),
      ])
      const changed = UPDATABLE.filter(([, field]) => rows.some(([a, b]) => !sameValue(a![field], b![field])))
      if (changed.length === 0) return
      const columns = [STATUS_ID_COLUMN, ...changed]
      const table = dialect.jsonRowsTable(
        rows.map(([, next]) => jsonRow(next!, columns)),
        columns.map(([column, , json]) => [column, json] as const),
      )
      // SQLite would otherwise scan the tenant's (tenant_id, parent_id) index against the rows: by key.
      const target =
        dialect.provider === 'sqlite' ? 'statuses INDEXED BY sqlite_autoindex_statuses_1' : 'statuses'
      await db.$executeRaw`UPDATE ${Prisma.raw(target)} SET ${Prisma.raw(changed.map(([c]) => `${c} = v.${c}`).join(', '))}
        FROM (${table}) AS v WHERE statuses.tenant_id = ${tenantId} AND statuses.status_id = v.status_id`
    },

    appendEvents,

    /** Appends log lines (one statement), then drops what is past each status's newest LOG_LINES_KEPT. */
    async appendLogs(db: Db, tenantId: string, logs: NewLog[]): Promise<void> {
      if (logs.length === 0) return
      const rows = logs.flatMap(({ statusId, first, lines }) =>
        lines.map((line, i) => [
          statusId,
          first + i,
          dialect.jsonTime(line.at),
          line.level,
          line.message,
          line.fields === undefined ? null : JSON.stringify(line.fields),
        ]),
      )
      await db.$executeRaw`INSERT INTO status_logs (tenant_id, status_id, n, at, level, message, fields)
        ${dialect.selectJsonRows(Prisma.sql`${tenantId}`, rows, LOG_JSON)}`
      const last = new Map<string, number>()
      for (const { statusId, first, lines } of logs) last.set(statusId, first + lines.length - 1)
      const over = [...last].filter(([, n]) => n > LOG_LINES_KEPT).map(([id, n]) => [id, n - LOG_LINES_KEPT])
      if (over.length === 0) return
      const table = dialect.jsonRowsTable(over, [
        ['status_id', 'text'],
        ['upto', 'int'],
      ])
      await db.$executeRaw`DELETE FROM status_logs WHERE tenant_id = ${tenantId} AND EXISTS (
        SELECT 1 FROM (${table}) AS v WHERE v.status_id = status_logs.status_id AND status_logs.n <= v.upto)`
    },

    /** A page of a status's log lines after line `afterN`, oldest first. */
    async logPage(tenantId: string, statusId: string, afterN: number, limit: number) {
      const rows = await direct.all<{
        n: number
        at: string | Date
        level: string
        message: string
        fields: string | null
      }>(
        'SELECT n, at, level, message, fields FROM status_logs WHERE tenant_id = ? AND status_id = ? AND n > ? ORDER BY n LIMIT ?',
        [tenantId, statusId, afterN, limit],
      )
      return rows.map((row) => ({
        n: Number(row.n),
        line: {
          at: new Date(row.at),
          level: row.level as LogLine['level'],
          message: row.message,
          ...(row.fields !== null && { fields: JSON.parse(row.fields) as Record<string, unknown> }),
        } satisfies LogLine,
      }))
    },

    async eventPage(db: Db, tenantId: string, page: SeqPage, statusId?: string): Promise<StatusEvent[]> {
      const rows = await db.statusEvent.findMany({
        // A status's history is its changes; its log lines are read apart (logPage).
        where: {
          tenantId,
          seq: { gt: page.afterSeq },
          ...(statusId === undefined ? {} : { statusId, type: { not: 'status.log' } }),
        },
        orderBy: { seq: 'asc' },
        take: page.limit,
      })
      return rows.map(rowToEvent)
    },
  }
}

export type StatusRepository = ReturnType<typeof createStatusRepository>
