import type { StoredStatus } from '../domain/status-record'
import { FILTER_KEYS, type Sort, type SortKey, type StatusFilter } from '../domain/status-filter'
import { searchTooBroad } from '../errors'
import type { Dialect } from './dialect'
import { Prisma, type Database, type PrismaClient } from './prisma'
import { rowToStatus } from './status-repository'

const COLUMN = {
  created_at: 'createdAt',
  updated_at: 'updatedAt',
  priority: 'priorityRank',
  progress_percentage: 'progress',
  status_id: 'statusId',
} as const satisfies Record<SortKey, keyof Prisma.StatusWhereInput>

type Column = (typeof COLUMN)[SortKey]
type RowKey = Record<Column, unknown>

/** Time bounds are exclusive after and before: `created_after=T` means strictly later than T. */
const range = <T>(after: T | undefined, before: T | undefined) =>
  after === undefined && before === undefined
    ? undefined
    : { ...(after !== undefined && { gt: after }), ...(before !== undefined && { lt: before }) }

/**
 * A filter whose `q` and `tag` became an id list where an index or a scan found them, with the time
 * `stalled` and `overdue` are judged at.
 */
export type Resolved = StatusFilter & { literalIds?: string[]; now?: Date }

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
  if (rows.length > MAX_LITERAL_IDS) throw searchTooBroad(MAX_LITERAL_IDS)
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
  now: Date,
): Promise<Resolved> {
  let resolved: Resolved = { ...filter, now }
  if (filter.q !== undefined && [...filter.q].length >= TRIGRAM) {
    const ids = await indexedMatches(prisma, dialect, tenantId, filter.q)
    if (ids) resolved = { ...filter, q: undefined, literalIds: ids }
  }
  return literalMatches(prisma, dialect, tenantId, resolved)
}

/** Filters on status, priority and kind alone are counted from status_counts instead of the rows. */
const COUNTED_KEYS: readonly (keyof StatusFilter)[] = ['status', 'priority', 'kind']
export const isCounted = (filter: StatusFilter) =>
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
    ...(filter.parent_id !== undefined && { parentId: filter.parent_id }),
    ...(progress && { progress }),
    ...(created && { createdAt: created }),
    ...(updated && { updatedAt: updated }),
    // The due times are stored (src/domain/liveness.ts): both filters are one comparison.
    ...(filter.stalled && { stallsAt: { lte: filter.now ?? new Date() } }),
    ...(filter.overdue && { overdueAt: { lte: filter.now ?? new Date() } }),
    ...(and.length > 0 && { AND: and }),
  }
}

/** Rows strictly after `position` in the query's order: (key, status_id) compared as a pair. */
function after(column: Column, descending: boolean, [value, id]: unknown[]): Prisma.StatusWhereInput {
  const op = descending ? 'lt' : 'gt'
  if (column === 'statusId') return { statusId: { [op]: id } }
  return { OR: [{ [column]: { [op]: value } }, { [column]: value, statusId: { [op]: id } }] }
}

/** `column` of a sort key holds a time (a cursor carries it as text). */
export const isTimeSort = (key: SortKey) => key === 'created_at' || key === 'updated_at'

/**
 * The read side of filtering: listing pages, counts and the ids a bulk cancel selects, for a filter
 * resolved once per request (`resolve`), through Prisma's typed API on the read connection.
 */
export function createStatusQueryRepository(db: Pick<Database, 'read' | 'dialect'>) {
  const prisma = db.read
  const { dialect } = db

  return {
    resolve: (tenantId: string, filter: StatusFilter, now = new Date()) =>
      resolveSearch(prisma, dialect, tenantId, filter, now),

    /**
     * Up to `take` statuses in the sort's order, after `position` (the sort value and id of the last row
     * of the page before), each with its own position.
     */
    async page(
      tenantId: string,
      filter: Resolved,
      sort: Sort,
      take: number,
      position?: unknown[],
    ): Promise<{ status: StoredStatus; position: [unknown, string] }[]> {
      const column = COLUMN[sort.key]
      const direction = sort.descending ? 'desc' : 'asc'
      const where = buildWhere(tenantId, filter, dialect)
      const paged =
        position === undefined ? where : { AND: [where, after(column, sort.descending, position)] }
      const orderBy: Prisma.StatusOrderByWithRelationInput[] =
        column === 'statusId' ? [{ statusId: direction }] : [{ [column]: direction }, { statusId: direction }]
      const rows = await prisma.status.findMany({ where: paged, orderBy, take })
      return rows.map((row) => ({
        status: rowToStatus(row),
        position: [(row as unknown as RowKey)[column], row.statusId],
      }))
    },

    /** How many statuses `filter` selects (`resolved` is it resolved); from status_counts when it can. */
    async count(tenantId: string, filter: StatusFilter, resolved: Resolved): Promise<number> {
      if (!isCounted(filter)) return prisma.status.count({ where: buildWhere(tenantId, resolved, dialect) })
      const sum = await prisma.statusCount.aggregate({
        where: countsWhere(tenantId, filter),
        _sum: { n: true },
      })
      return sum._sum.n ?? 0
    },

    /** Counts by status or priority of what `filter` selects (`resolved`: it resolved, unless counted). */
    async countBy(
      tenantId: string,
      by: 'status' | 'priority',
      filter: StatusFilter,
      resolved?: Resolved,
    ): Promise<{ key: string; n: number }[]> {
      if (resolved && !isCounted(filter)) {
        const where = buildWhere(tenantId, resolved, dialect)
        const groups = await prisma.status.groupBy({ by: [by], where, _count: { _all: true } })
        return groups.map((g) => ({ key: g[by], n: g._count._all }))
      }
      const groups = await prisma.statusCount.groupBy({
        by: [by],
        where: countsWhere(tenantId, filter),
        _sum: { n: true },
      })
      return groups.map((g) => ({ key: g[by], n: g._sum.n ?? 0 }))
    },

    /** Up to `take` ids of what `filter` selects, in id order, after `afterId`. */
    async ids(tenantId: string, filter: Resolved, take: number, afterId?: string): Promise<string[]> {
      const where = buildWhere(tenantId, filter, dialect)
      const rows = await prisma.status.findMany({
        where: afterId === undefined ? where : { AND: [where, { statusId: { gt: afterId } }] },
        select: { statusId: true },
        orderBy: { statusId: 'asc' },
        take,
      })
      return rows.map((row) => row.statusId)
    },
  }
}

export type StatusQueryRepository = ReturnType<typeof createStatusQueryRepository>
