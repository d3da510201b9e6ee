import { createHash } from 'node:crypto'
import { createStatusQueryRepository, isCounted, isTimeSort } from '../db/status-query-repository'
import type { Database } from '../db/prisma'
import type { Sort, StatusFilter } from '../domain/status-filter'
import type { StatusRecord } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import { PRIORITY_VALUES, STATUS_VALUES, type StatusValue } from '../domain/transitions'
import { invalidCursor } from '../errors'
import type { CursorCodec } from './cursor-codec'
import type { Page } from './status-service'
import type { StatusUpdater } from './status-updater'

export { FILTER_KEYS, SORT_KEYS, type SortKey, type StatusFilter } from '../domain/status-filter'

export interface ListQuery extends StatusFilter {
  sort: Sort
  limit: number
  cursor?: string
  include_total?: boolean
}

const LIVE_STATUSES: StatusValue[] = ['pending', 'starting', 'processing', 'retry_pending']
const CANCEL_PAGE = 1000

export interface FilterServiceDeps {
  db: Database
  cursors: CursorCodec
  /** Bulk cancel writes through the batched updater. */
  updater: StatusUpdater
  /** What `stalled` and `overdue` are judged against. */
  clock?: () => Date
}

export function createStatusFilterService({
  db,
  cursors,
  updater,
  clock = () => new Date(),
}: FilterServiceDeps) {
  const queries = createStatusQueryRepository(db)
  /** A cursor only fits the same filters and sort it was made for. */
  function scopeOf(query: ListQuery): string {
    const { limit: _l, cursor: _c, include_total: _t, ...shape } = query
    return 'list:' + createHash('sha256').update(JSON.stringify(shape)).digest('base64url').slice(0, 16)
  }

  function decodePosition(sort: Sort, scope: string, cursor: string): unknown[] {
    const [value, id] = cursors.decode(scope, cursor)
    if (typeof id !== 'string') throw invalidCursor()
    if (!isTimeSort(sort.key)) return [value, id]
    const date = new Date(String(value))
    if (Number.isNaN(date.getTime())) throw invalidCursor()
    return [date, id]
  }

  return {
    async list(tenantId: string, query: ListQuery): Promise<Page<StatusRecord> & { total?: number }> {
      const scope = scopeOf(query)
      const position =
        query.cursor === undefined ? undefined : decodePosition(query.sort, scope, query.cursor)
      const resolved = await queries.resolve(tenantId, query, clock())
      const [rows, total] = await Promise.all([
        queries.page(tenantId, resolved, query.sort, query.limit + 1, position),
        query.include_total ? queries.count(tenantId, query, resolved) : Promise.resolve(undefined),
      ])
      const has_more = rows.length > query.limit
      const page = rows.slice(0, query.limit)
      const last = page[page.length - 1]
      return {
        items: page.map((row) => toRecord(row.status)),
        next_cursor: has_more && last ? cursors.encode(scope, last.position) : null,
        has_more,
        ...(total === undefined ? {} : { total }),
      }
    },

    /**
     * Cancels every live status the filter selects, a page at a time through the writer (one event per
     * status). Statuses that finish meanwhile are left as they are.
     */
    async cancelMatching(tenantId: string, filter: StatusFilter): Promise<number> {
      const live = (filter.status ?? LIVE_STATUSES).filter((s) => LIVE_STATUSES.includes(s))
      if (live.length === 0) return 0
      const resolved = await queries.resolve(tenantId, { ...filter, status: live }, clock())
      let cancelled = 0
      let afterId: string | undefined
      for (;;) {
        const ids = await queries.ids(tenantId, resolved, CANCEL_PAGE, afterId)
        if (ids.length === 0) return cancelled
        afterId = ids[ids.length - 1]!
        const submitted = await updater.submit(
          tenantId,
          ids.map((id) => ({ status_id: id, new_status: 'cancelled' as const })),
        )
        const results = await Promise.all(submitted.accepted.map((item) => item.result))
        cancelled += results.filter((r) => r.result === 'applied').length
      }
    },

    async stats(tenantId: string, filter: StatusFilter = {}) {
      const resolved = isCounted(filter) ? undefined : await queries.resolve(tenantId, filter, clock())
      const [byStatus, byPriority] = await Promise.all([
        queries.countBy(tenantId, 'status', filter, resolved),
        queries.countBy(tenantId, 'priority', filter, resolved),
      ])
      const count = <K extends string>(keys: readonly K[], groups: { key: string; n: number }[]) =>
        Object.fromEntries(keys.map((k) => [k, groups.find((g) => g.key === k)?.n ?? 0])) as Record<K, number>
      const by_status = count(STATUS_VALUES, byStatus)
      const by_priority = count(PRIORITY_VALUES, byPriority)
      const total = Object.values(by_status).reduce((sum, n) => sum + n, 0)
      return { total, by_status, by_priority }
    },
  }
}

export type StatusFilterService = ReturnType<typeof createStatusFilterService>
