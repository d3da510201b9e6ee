import { randomUUID } from 'node:crypto'
import type { Changes, EventType, StatusEvent, StatusRecord, StoredStatus } from '../domain/status-record'

import { priorityRank, type PriorityValue, type StatusValue } from '../domain/transitions'
import type { Status as StatusRow, StatusEvent as EventRow } from './generated/client'
import type BetterSqlite3 from 'better-sqlite3'
import type { Db } from './prisma'

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
    last_reported_at: row.lastReportedAt,
  }
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
  }
}

export function rowToEvent(row: EventRow): StatusEvent {
  return {
    event_id: row.eventId,
    seq: Number(row.seq),
    type: row.type as EventType,
    status_id: row.statusId,
    version: row.version,
    occurred_at: row.occurredAt,
    changes: JSON.parse(row.changes),
    status: JSON.parse(row.record),
  }
}

export interface NewEvent {
  type: EventType
  status: StatusRecord
  changes: Changes
  occurredAt: Date
}

export interface SeqPage {
  afterSeq: number
  limit: number
}

// Column aliases give the raw row Prisma's field names, so one mapping serves both paths.
const SELECT_STATUS = `SELECT tenant_id AS tenantId, status_id AS statusId, kind, resource_id AS resourceId, status,
  priority, priority_rank AS priorityRank, progress, message, steps_completed AS stepsCompleted,
  steps_total AS stepsTotal, error_info AS errorInfo, retry_count AS retryCount, max_retries AS maxRetries,
  metadata, tags, version, created_at AS createdAt, updated_at AS updatedAt, started_at AS startedAt,
  completed_at AS completedAt, estimated_completion_at AS estimatedCompletionAt, last_reported_at AS lastReportedAt
  FROM statuses WHERE tenant_id = ? AND status_id = ?`

const DATE_FIELDS = ['createdAt', 'updatedAt', 'startedAt', 'completedAt', 'estimatedCompletionAt', 'lastReportedAt'] as const

function rawToRow(raw: Record<string, unknown>): StatusRow {
  for (const field of DATE_FIELDS) {
    const value = raw[field]
    if (value !== null) raw[field] = new Date(value as string)
  }
  return raw as unknown as StatusRow
}

/**
 * Persistence of statuses and their events. Writers run inside one transaction (`db`) and are
 * optimistic: they name the version they read, so a concurrent change makes them report false.
 * `get` is the hot committed point read on the direct connection.
 */
export function createStatusRepository(direct: BetterSqlite3.Database) {
  const selectStatus = direct.prepare<[string, string], Record<string, unknown>>(SELECT_STATUS)

  return {
    get(tenantId: string, statusId: string): StoredStatus | null {
      const raw = selectStatus.get(tenantId, statusId)
      return raw === undefined ? null : rowToStatus(rawToRow(raw))
    },

    /**
     * Inserts a new status; false when the id is taken. Raw SQL through Prisma on the write path: the
     * typed API costs several times more per call (see docs/storage.md).
     */
    async insert(db: Db, tenantId: string, status: StoredStatus): Promise<boolean> {
      const r = statusToRow(tenantId, status)
      const inserted = await db.$executeRaw`INSERT INTO statuses (tenant_id, status_id, kind, resource_id, status,
        priority, priority_rank, progress, message, steps_completed, steps_total, error_info, retry_count,
        max_retries, metadata, tags, version, created_at, updated_at, started_at, completed_at,
        estimated_completion_at, last_reported_at)
        VALUES (${r.tenantId}, ${r.statusId}, ${r.kind}, ${r.resourceId}, ${r.status}, ${r.priority},
        ${r.priorityRank}, ${r.progress}, ${r.message}, ${r.stepsCompleted}, ${r.stepsTotal}, ${r.errorInfo},
        ${r.retryCount}, ${r.maxRetries}, ${r.metadata}, ${r.tags}, ${r.version}, ${r.createdAt}, ${r.updatedAt},
        ${r.startedAt}, ${r.completedAt}, ${r.estimatedCompletionAt}, ${r.lastReportedAt})
        ON CONFLICT (tenant_id, status_id) DO NOTHING`
      return inserted === 1
    },

    /**
     * Writes `status` over the stored one if that is still as `from` was read (same version and same
     * last report: a report that changed nothing visible does not bump the version); false when it moved on.
     */
    async replace(db: Db, tenantId: string, status: StoredStatus, from: StoredStatus): Promise<boolean> {
      const r = statusToRow(tenantId, status)
      const seen = from.last_reported_at
      const updated = await db.$executeRaw`UPDATE statuses SET kind = ${r.kind}, resource_id = ${r.resourceId},
        status = ${r.status}, priority = ${r.priority}, priority_rank = ${r.priorityRank}, progress = ${r.progress},
        message = ${r.message}, steps_completed = ${r.stepsCompleted}, steps_total = ${r.stepsTotal},
        error_info = ${r.errorInfo}, retry_count = ${r.retryCount}, max_retries = ${r.maxRetries},
        metadata = ${r.metadata}, tags = ${r.tags}, version = ${r.version}, updated_at = ${r.updatedAt},
        started_at = ${r.startedAt}, completed_at = ${r.completedAt},
        estimated_completion_at = ${r.estimatedCompletionAt}, last_reported_at = ${r.lastReportedAt}
        WHERE tenant_id = ${tenantId} AND status_id = ${r.statusId} AND version = ${from.version}
        AND (last_reported_at = ${seen} OR (last_reported_at IS NULL AND ${seen === null} = 1))`
      return updated === 1
    },

    /** Deletes the status if it is still at `fromVersion`; false when it moved on or is gone. */
    async remove(db: Db, tenantId: string, statusId: string, fromVersion: number): Promise<boolean> {
      const deleted = await db.$executeRaw`DELETE FROM statuses
        WHERE tenant_id = ${tenantId} AND status_id = ${statusId} AND version = ${fromVersion}`
      return deleted === 1
    },

    /** Allocates the tenant's next `seq` under the tenant row's write lock, so readers never see gaps. */
    async appendEvent(db: Db, tenantId: string, event: NewEvent): Promise<StatusEvent> {
      const [bumped] = await db.$queryRaw<{ last_seq: bigint | number }[]>`UPDATE tenants
        SET last_seq = last_seq + 1 WHERE id = ${tenantId} RETURNING last_seq`
      if (!bumped) throw new Error(`Tenant ${tenantId} does not exist`)
      const stored: StatusEvent = {
        event_id: randomUUID(),
        seq: Number(bumped.last_seq),
        type: event.type,
        status_id: event.status.status_id,
        version: event.status.version,
        occurred_at: event.occurredAt,
        changes: event.changes,
        status: event.status,
      }
      await db.$executeRaw`INSERT INTO status_events (tenant_id, seq, event_id, type, status_id, version,
        occurred_at, changes, record)
        VALUES (${tenantId}, ${stored.seq}, ${stored.event_id}, ${stored.type}, ${stored.status_id},
        ${stored.version}, ${stored.occurred_at}, ${JSON.stringify(stored.changes)}, ${JSON.stringify(stored.status)})`
      return stored
    },

    async events(db: Db, tenantId: string, page: SeqPage, statusId?: string): Promise<StatusEvent[]> {
      const rows = await db.statusEvent.findMany({
        where: { tenantId, seq: { gt: page.afterSeq }, ...(statusId === undefined ? {} : { statusId }) },
        orderBy: { seq: 'asc' },
        take: page.limit,
      })
      return rows.map(rowToEvent)
    },
  }
}

export type StatusRepository = ReturnType<typeof createStatusRepository>
