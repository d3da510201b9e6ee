import { createHash } from 'node:crypto'
import type { Dialect } from '../db/dialect'
import { Prisma, type Database, type PrismaClient } from '../db/prisma'
import { rowToStatus } from '../db/status-repository'
import type { StatusRecord } from '../domain/status-record'
import { toRecord } from '../domain/status-record'
import { PRIORITY_VALUES, STATUS_VALUES, type PriorityValue, type StatusValue } from '../domain/transitions'
import { AppError, invalidCursor } from '../errors'
import type { CursorCodec } from './cursor-codec'
import type { Page } from './status-service'
import type { StatusUpdater } from './status-updater'

export const SORT_KEYS = ['created_at', 'updated_at', 'priority', 'progress_percentage', 'status_id'] as const
export type SortKey = (typeof SORT_KEYS)[number]

export interface StatusFilter {
  status?: StatusValue[]
  priority?: PriorityValue[]
  kind?: string
  resource_id?: string
  /** Any of these tags. */
  tag?: string[]
  progress_gte?: number
  progress_lte?: number
  created_after?: Date
  created_before?: Date
  updated_after?: Date
  updated_before?: Date
  /** A substring of status_id, message or resource_id. */
  q?: string
}

/** The filter keys a caller may combine (AND across keys, OR within a list). */
export const FILTER_KEYS = [
  'status',
  'priority',
  'kind',
  'resource_id',
  'tag',
  'progress_gte',
  'progress_lte',
  'created_after',
  'created_before',
  'updated_after',
  'updated_before',
  'q',
] as const satisfies readonly (keyof StatusFilter)[]

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

/** Time bounds are exclusive after and before: `created_after=T` means strictly later than T. */
const range = <T>(after: T | undefined, before: T | undefined) =>
  after === undefined && before === undefined
    ? undefined
    : { ...(after !== undefined && { gt: after }), ...(before !== undefined && { lt: before }) }

type Resolved = StatusFilter & { literalIds?: string[] }

/** The needle is in status_id, message or resource_id, ASCII case-insensitively (as LIKE matches). */
const qFound = (dialect: Dialect, needle: string, alias = '') =>
  Prisma.sql`(${Prisma.join(
    ['status_id', 'message', 'resource_id'].map((c) => dialect.containsFolded(alias + c, needle)),
    ' OR ',
  )})`

/** The trigram index (status_search) serves needles of at least this many characters. */
const TRIGRAM = 3
/**
 * A needle matching more statuses than this is broad: walking the sort order's index finds a page of
 * matches sooner than sorting every match, so it is left to LIKE.
 */
const MAX_INDEXED_MATCHES = 2_000

/**
 * The ids of the tenant's statuses holding `needle`, from the trigram index; undefined when there are
 * more than MAX_INDEXED_MATCHES. The index only narrows the candidates (it folds case beyond ASCII):
 * each is checked exactly as the scan would, so both paths return the same rows.
 */
async function indexedMatches(prisma: PrismaClient, dialect: Dialect, tenantId: string, needle: string) {
  const rows = await prisma.$queryRaw<{ status_id: string }[]>(
    dialect.searchCandidates(tenantId, needle, qFound(dialect, needle, 's.'), MAX_INDEXED_MATCHES + 1),
  )
  return rows.length > MAX_INDEXED_MATCHES ? undefined : rows.map((r) => r.status_id)
}

/**
 * Prisma's `contains` is SQLite's LIKE, which has no escape character: a `%` or `_` in a needle would be
 * a wildcard. Such needles, when the trigram index cannot answer them, are matched with instr() by a
 * scan and come back as the ids of the matching statuses.
 */
const hasWildcard = (s: string) => /[%_]/.test(s)
const MAX_LITERAL_IDS = 30_000

async function literalMatches(
  prisma: PrismaClient,
  dialect: Dialect,
  tenantId: string,
  filter: Resolved,
): Promise<Resolved> {
  const tagLiteral = filter.tag?.some(hasWildcard) ?? false
  const qLiteral = filter.q !== undefined && hasWildcard(filter.q)
  if (!tagLiteral && !qLiteral) return filter
  const conditions: Prisma.Sql[] = [Prisma.sql`tenant_id = ${tenantId}`]
  if (tagLiteral)
    conditions.push(
      Prisma.sql`(${Prisma.join(
        filter.tag!.map((tag) => dialect.containsFolded('tags', JSON.stringify(tag))),
        ' OR ',
      )})`,
    )
  if (qLiteral) conditions.push(qFound(dialect, filter.q!))
  if (filter.literalIds) conditions.push(Prisma.sql`status_id IN (${dialect.jsonStrings(filter.literalIds)})`)
  const rows = await prisma.$queryRaw<{ status_id: string }[]>(
    Prisma.sql`SELECT status_id FROM statuses WHERE ${Prisma.join(conditions, ' AND ')} LIMIT ${MAX_LITERAL_IDS + 1}`,
  )
  // The ids become bound parameters: past SQLite's limit the search has to be narrowed.
  if (rows.length > MAX_LITERAL_IDS) {
    throw new AppError(
      'search-too-broad',
      422,
      `A search containing % or _ may match at most ${MAX_LITERAL_IDS} statuses; narrow it`,
    )
  }
  return {
    ...filter,
    ...(tagLiteral && { tag: undefined }),
    ...(qLiteral && { q: undefined }),
    literalIds: rows.map((r) => r.status_id),
  }
}

/** Turns `q` and `tag` into what the WHERE clause can express: an id list where an index or a scan found them. */
async function resolveSearch(
  prisma: PrismaClient,
  dialect: Dialect,
  tenantId: string,
  filter: StatusFilter,
): Promise<Resolved> {
  let resolved: Resolved = filter
  if (filter.q !== undefined && [...filter.q].length >= TRIGRAM) {
    const ids = await indexedMatches(prisma, dialect, tenantId, filter.q)
    if (ids) resolved = { ...filter, q: undefined, literalIds: ids }
  }
  return literalMatches(prisma, dialect, tenantId, resolved)
}

/** Filters on status, priority and kind alone are counted from status_counts instead of the rows. */
const COUNTED_KEYS: readonly (keyof StatusFilter)[] = ['status', 'priority', 'kind']
const isCounted = (filter: StatusFilter) =>
  FILTER_KEYS.every((key) => COUNTED_KEYS.includes(key) || filter[key] === undefined)

function countsWhere(tenantId: string, filter: StatusFilter): Prisma.StatusCountWhereInput {
  return {
    tenantId,
    ...(filter.status && { status: { in: filter.status } }),
    ...(filter.priority && { priority: { in: filter.priority } }),
    ...(filter.kind !== undefined && { kind: filter.kind }),
  }
}

export function buildWhere(
  tenantId: string,
  filter: Resolved,
  dialect: Pick<Dialect, 'contains'>,
): Prisma.StatusWhereInput {
  const and: Prisma.StatusWhereInput[] = []
  if (filter.literalIds) and.push({ statusId: { in: filter.literalIds } })
  // Tags are stored as a JSON array; a JSON-quoted tag can only match a whole element.
  if (filter.tag?.length)
    and.push({ OR: filter.tag.map((tag) => ({ tags: dialect.contains(JSON.stringify(tag)) })) })
  if (filter.q !== undefined) {
    and.push({
      OR: [
        { statusId: dialect.contains(filter.q) },
        { message: dialect.contains(filter.q) },
        { resourceId: dialect.contains(filter.q) },
      ],
    })
  }
  const progress =
    filter.progress_gte === undefined && filter.progress_lte === undefined
      ? undefined
      : {
          ...(filter.progress_gte !== undefined && { gte: filter.progress_gte }),
          ...(filter.progress_lte !== undefined && { lte: filter.progress_lte }),
        }
  const created = range(filter.created_after, filter.created_before)
  const updated = range(filter.updated_after, filter.updated_before)
  return {
    tenantId,
    ...(filter.status && { status: { in: filter.status } }),
    ...(filter.priority && { priority: { in: filter.priority } }),
    ...(filter.kind !== undefined && { kind: filter.kind }),
    ...(filter.resource_id !== undefined && { resourceId: filter.resource_id }),
    ...(progress && { progress }),
    ...(created && { createdAt: created }),
    ...(updated && { updatedAt: updated }),
    ...(and.length > 0 && { AND: and }),
  }
}

/** Rows strictly after `position` in the query's order: (key, status_id) compared as a pair. */
function after(column: Column, descending: boolean, [value, id]: unknown[]): Prisma.StatusWhereInput {
  const op = descending ? 'lt' : 'gt'
  if (column === 'statusId') return { statusId: { [op]: id } }
  return { OR: [{ [column]: { [op]: value } }, { [column]: value, statusId: { [op]: id } }] }
}

const LIVE_STATUSES: StatusValue[] = ['pending', 'starting', 'processing', 'retry_pending']
const CANCEL_PAGE = 1000

export interface FilterServiceDeps {
  db: Database
  cursors: CursorCodec
  /** Bulk cancel writes through the batched updater. */
  updater: StatusUpdater
}

export function createStatusFilterService({ db, cursors, updater }: FilterServiceDeps) {
  const prisma = db.read
  const { dialect } = db
  const resolve = (tenantId: string, filter: StatusFilter) => resolveSearch(prisma, dialect, tenantId, filter)
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

  async function countMatches(tenantId: string, filter: StatusFilter, where: Prisma.StatusWhereInput) {
    if (!isCounted(filter)) return prisma.status.count({ where })
    const sum = await prisma.statusCount.aggregate({
      where: countsWhere(tenantId, filter),
      _sum: { n: true },
    })
    return sum._sum.n ?? 0
  }

  return {
    async list(tenantId: string, query: ListQuery): Promise<Page<StatusRecord> & { total?: number }> {
      const column = COLUMN[query.sort.key]
      const direction = query.sort.descending ? 'desc' : 'asc'
      const scope = scopeOf(query)
      const where = buildWhere(tenantId, await resolve(tenantId, query), dialect)
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
        query.include_total ? countMatches(tenantId, query, where) : Promise.resolve(undefined),
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

    /**
     * Cancels every live status the filter selects, a page at a time through the batched updater (one
     * transaction and one event per status). Statuses that finish meanwhile are left as they are.
     */
    async cancelMatching(tenantId: string, filter: StatusFilter): Promise<number> {
      const live = (filter.status ?? LIVE_STATUSES).filter((s) => LIVE_STATUSES.includes(s))
      if (live.length === 0) return 0
      const where = buildWhere(tenantId, await resolve(tenantId, { ...filter, status: live }), dialect)
      let cancelled = 0
      let afterId: string | undefined
      for (;;) {
        const page = await prisma.status.findMany({
          where: afterId === undefined ? where : { AND: [where, { statusId: { gt: afterId } }] },
          select: { statusId: true },
          orderBy: { statusId: 'asc' },
          take: CANCEL_PAGE,
        })
        if (page.length === 0) return cancelled
        afterId = page[page.length - 1]!.statusId
        const submitted = await updater.submit(
          tenantId,
          page.map(({ statusId }) => ({ status_id: statusId, new_status: 'cancelled' as const })),
        )
        const results = await Promise.all(submitted.accepted.map((item) => item.result))
        cancelled += results.filter((r) => r.result === 'applied').length
      }
    },

    async stats(tenantId: string, filter: StatusFilter = {}) {
      const where = isCounted(filter)
        ? undefined
        : buildWhere(tenantId, await resolve(tenantId, filter), dialect)
      const groupsBy = async (by: 'status' | 'priority') => {
        if (where) {
          const groups = await prisma.status.groupBy({ by: [by], where, _count: { _all: true } })
          return groups.map((g) => ({ key: g[by], n: g._count._all }))
        }
        const counts = countsWhere(tenantId, filter)
        const groups = await prisma.statusCount.groupBy({ by: [by], where: counts, _sum: { n: true } })
        return groups.map((g) => ({ key: g[by], n: g._sum.n ?? 0 }))
      }
      const [byStatus, byPriority] = await Promise.all([groupsBy('status'), groupsBy('priority')])
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
