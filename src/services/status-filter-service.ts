import { createHash } from 'node:crypto'
import type { Database, Prisma } from '../db/prisma'
import { rowToStatus } from '../db/status-repository'
import type { StatusRecord } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import { PRIORITY_VALUES, STATUS_VALUES, type PriorityValue, type StatusValue } from '../domain/transitions'
import { invalidCursor } from '../errors'
import type { CursorCodec } from './cursor-codec'
import type { Page } from './status-service'

export const SORT_KEYS = ['created_at', 'updated_at', 'priority', 'progress_percentage', 'status_id'] as const
export type SortKey = (typeof SORT_KEYS)[number]

export interface StatusFilter {
  status?: StatusValue[]
  priority?: PriorityValue[]
  kind?: string
  resource_id?: string
}

export interface ListQuery extends StatusFilter {
  sort: { key: SortKey; descending: boolean }
  limit: number
  cursor?: string
  include_total?: boolean
}

const COLUMN = {
  created_at: 'createdAt',
  updated_at: 'updatedAt',
  priority: 'priorityRank',
  progress_percentage: 'progress',
  status_id: 'statusId',
} as const satisfies Record<SortKey, keyof Prisma.StatusWhereInput>

type Column = (typeof COLUMN)[SortKey]
type RowKey = Record<Column, unknown>

const isDateColumn = (column: Column) => column === 'createdAt' || column === 'updatedAt'

export function buildWhere(tenantId: string, filter: StatusFilter): Prisma.StatusWhereInput {
  return {
    tenantId,
    ...(filter.status && { status: { in: filter.status } }),
    ...(filter.priority && { priority: { in: filter.priority } }),
    ...(filter.kind !== undefined && { kind: filter.kind }),
    ...(filter.resource_id !== undefined && { resourceId: filter.resource_id }),
  }
}

/** Rows strictly after `position` in the query's order: (key, status_id) compared as a pair. */
function after(column: Column, descending: boolean, [value, id]: unknown[]): Prisma.StatusWhereInput {
  const op = descending ? 'lt' : 'gt'
  if (column === 'statusId') return { statusId: { [op]: id } }
  return { OR: [{ [column]: { [op]: value } }, { [column]: value, statusId: { [op]: id } }] }
}

export function createStatusFilterService({ db, cursors }: { db: Database; cursors: CursorCodec }) {
  const prisma = db.read
  /** A cursor only fits the same filters and sort it was made for. */
  function scopeOf(query: ListQuery): string {
    const { limit: _l, cursor: _c, include_total: _t, ...shape } = query
    return 'list:' + createHash('sha256').update(JSON.stringify(shape)).digest('base64url').slice(0, 16)
  }

  function decodePosition(column: Column, scope: string, cursor: string): unknown[] {
    const [value, id] = cursors.decode(scope, cursor)
    if (typeof id !== 'string') throw invalidCursor()
    if (!isDateColumn(column)) return [value, id]
    const date = new Date(String(value))
    if (Number.isNaN(date.getTime())) throw invalidCursor()
    return [date, id]
  }

  return {
    async list(tenantId: string, query: ListQuery): Promise<Page<StatusRecord> & { total?: number }> {
      const column = COLUMN[query.sort.key]
      const direction = query.sort.descending ? 'desc' : 'asc'
      const scope = scopeOf(query)
      const where = buildWhere(tenantId, query)
      const paged =
        query.cursor === undefined
          ? where
          : {
              AND: [where, after(column, query.sort.descending, decodePosition(column, scope, query.cursor))],
            }
      const orderBy: Prisma.StatusOrderByWithRelationInput[] =
        column === 'statusId' ? [{ statusId: direction }] : [{ [column]: direction }, { statusId: direction }]

      const [rows, total] = await Promise.all([
        prisma.status.findMany({ where: paged, orderBy, take: query.limit + 1 }),
        query.include_total ? prisma.status.count({ where }) : Promise.resolve(undefined),
      ])
      const has_more = rows.length > query.limit
      const page = rows.slice(0, query.limit)
      const last = page[page.length - 1] as unknown as RowKey | undefined
      const next_cursor =
        has_more && last
          ? cursors.encode(scope, [last[column], (last as { statusId: string }).statusId])
          : null
      return {
        items: page.map((row) => toRecord(rowToStatus(row))),
        next_cursor,
        has_more,
        ...(total === undefined ? {} : { total }),
      }
    },

    async stats(tenantId: string, filter: StatusFilter = {}) {
      const where = buildWhere(tenantId, filter)
      const [byStatus, byPriority] = await Promise.all([
        prisma.status.groupBy({ by: ['status'], where, _count: { _all: true } }),
        prisma.status.groupBy({ by: ['priority'], where, _count: { _all: true } }),
      ])
      const count = <K extends string>(keys: readonly K[], groups: { key: string; n: number }[]) =>
        Object.fromEntries(keys.map((k) => [k, groups.find((g) => g.key === k)?.n ?? 0])) as Record<K, number>
      const by_status = count(
        STATUS_VALUES,
        byStatus.map((g) => ({ key: g.status, n: g._count._all })),
      )
      const by_priority = count(
        PRIORITY_VALUES,
        byPriority.map((g) => ({ key: g.priority, n: g._count._all })),
      )
      const total = Object.values(by_status).reduce((sum, n) => sum + n, 0)
      return { total, by_status, by_priority }
    },
  }
}

export type StatusFilterService = ReturnType<typeof createStatusFilterService>
