import { randomUUID } from 'node:crypto'
import type { Changes, EventType, StatusEvent, StatusRecord, StoredStatus } from '../domain/status-record'

import { priorityRank, type PriorityValue, type StatusValue } from '../domain/transitions'
import type { Status as StatusRow, StatusEvent as EventRow } from './generated/client'
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

/** Persistence of statuses and their events; every writer runs inside one transaction (`db`). */
export function createStatusRepository() {
  return {
    async find(db: Db, tenantId: string, statusId: string): Promise<StoredStatus | null> {
      const row = await db.status.findUnique({ where: { tenantId_statusId: { tenantId, statusId } } })
      return row && rowToStatus(row)
    },

    async insert(db: Db, tenantId: string, status: StoredStatus): Promise<void> {
      await db.status.create({ data: statusToRow(tenantId, status) })
    },

    async replace(db: Db, tenantId: string, status: StoredStatus): Promise<void> {
      const { tenantId: _t, statusId, ...data } = statusToRow(tenantId, status)
      await db.status.update({ where: { tenantId_statusId: { tenantId, statusId } }, data })
    },

    async remove(db: Db, tenantId: string, statusId: string): Promise<void> {
      await db.status.delete({ where: { tenantId_statusId: { tenantId, statusId } } })
    },

    /** Allocates the tenant's next `seq` under the tenant row's write lock, so readers never see gaps. */
    async appendEvent(db: Db, tenantId: string, event: NewEvent): Promise<StatusEvent> {
      const { lastSeq } = await db.tenant.update({
        where: { id: tenantId },
        data: { lastSeq: { increment: 1 } },
        select: { lastSeq: true },
      })
      const stored: StatusEvent = {
        event_id: randomUUID(),
        seq: Number(lastSeq),
        type: event.type,
        status_id: event.status.status_id,
        version: event.status.version,
        occurred_at: event.occurredAt,
        changes: event.changes,
        status: event.status,
      }
      await db.statusEvent.create({
        data: {
          tenantId,
          seq: lastSeq,
          eventId: stored.event_id,
          type: stored.type,
          statusId: stored.status_id,
          version: stored.version,
          occurredAt: stored.occurred_at,
          changes: JSON.stringify(stored.changes),
          record: JSON.stringify(stored.status),
        },
      })
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

    async lastSeq(db: Db, tenantId: string): Promise<number> {
      const tenant = await db.tenant.findUnique({ where: { id: tenantId }, select: { lastSeq: true } })
      return Number(tenant?.lastSeq ?? 0)
    },
  }
}

export type StatusRepository = ReturnType<typeof createStatusRepository>
