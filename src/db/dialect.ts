// The few SQL fragments that differ between SQLite and PostgreSQL. Repositories and the filter service
// build their statements from these, so one piece of logic serves both stores.
import { Prisma } from './generated/client'

export type Provider = 'sqlite' | 'postgresql'

/** How a value travels inside a JSON row, and the column type it lands in. */
export type JsonColumn = 'text' | 'int' | 'bigint' | 'float' | 'time'

export interface Dialect {
  provider: Provider
  /**
   * A table of rows from one JSON parameter holding an array of arrays, as `SELECT <lead>, c0, c1, … FROM …`:
   * one bound value instead of thousands keeps Prisma's per-parameter cost off the batched write paths.
   */
  selectJsonRows(lead: Prisma.Sql, rows: unknown[][], columns: readonly JsonColumn[]): Prisma.Sql
  /** The same rows as a table with named columns, `SELECT … AS name, …`, to join in an UPDATE's FROM. */
  jsonRowsTable(
    rows: unknown[][],
    columns: readonly (readonly [name: string, type: JsonColumn])[],
  ): Prisma.Sql
  /** A subquery of the strings in a JSON array parameter, for `x IN (…)`. */
  jsonStrings(values: string[]): Prisma.Sql
  /** The same for the direct connection's plain SQL, with the JSON text bound to its one `?`. */
  jsonStringsDirect: string
  /** `column` (null reads as '') holds `needle`, folding ASCII letters only, as SQLite's LIKE does. */
  containsFolded(column: string, needle: string): Prisma.Sql
  /**
   * Prisma's `contains` with SQLite's LIKE semantics: ASCII-case-insensitive. (On PostgreSQL `insensitive`
   * is ILIKE, which folds ASCII only on the COLLATE "C" columns of this schema.)
   */
  contains(value: string): Prisma.StringFilter
  /**
   * The ids of a tenant's statuses the trigram index offers for `needle` and that pass `exact`, at most
   * `limit` of them. The index only narrows; `exact` decides.
   */
  searchCandidates(tenantId: string, needle: string, exact: Prisma.Sql, limit: number): Prisma.Sql
  /**
   * A statement that makes concurrent transactions naming any of the same `keys` take turns until
   * commit, or null where writers never overlap (SQLite: one writer at a time). The keys are taken in
   * one order, so two such transactions never deadlock on them.
   */
  serialise(keys: string[]): Prisma.Sql | null
  /** Appended to a SELECT whose rows the transaction is about to write. */
  forUpdate: Prisma.Sql
  /**
   * Appended to a SELECT that claims work: rows another transaction holds are passed over rather than
   * waited for, so concurrent instances never take the same row nor queue behind each other.
   */
  skipLocked: Prisma.Sql
  /** Times inside JSON rows, in the form the column type stores. */
  jsonTime(date: Date | null): string | null
}

/** Times as the SQLite adapter writes them, so raw and typed writes sort and compare alike. */
const sqliteTime = (date: Date | null) => (date === null ? null : date.toISOString().replace('Z', '+00:00'))

export const sqliteDialect: Dialect = {
  provider: 'sqlite',
  selectJsonRows(lead, rows, columns) {
    const values = columns.map((_, i) => `value ->> ${i}`).join(', ')
    return Prisma.sql`SELECT ${lead}, ${Prisma.raw(values)} FROM json_each(${JSON.stringify(rows)})`
  },
  jsonRowsTable(rows, columns) {
    const values = columns.map(([name], i) => `value ->> ${i} AS ${name}`).join(', ')
    return Prisma.sql`SELECT ${Prisma.raw(values)} FROM json_each(${JSON.stringify(rows)})`
  },
  jsonStrings: (values) => Prisma.sql`SELECT value FROM json_each(${JSON.stringify(values)})`,
  jsonStringsDirect: 'SELECT value FROM json_each(?)',
  containsFolded: (column, needle) =>
    Prisma.sql`instr(lower(coalesce(${Prisma.raw(column)}, '')), lower(${needle})) > 0`,
  contains: (value) => ({ contains: value }),
  searchCandidates(tenantId, needle, exact, limit) {
    // A phrase, so quotes, `*`, AND, `%` and `_` in the needle are plain text.
    const phrase = `"${needle.replaceAll('"', '""')}"`
    return Prisma.sql`SELECT s.status_id FROM status_search f CROSS JOIN statuses s ON s.rowid = f.rowid
      WHERE status_search MATCH ${phrase} AND s.tenant_id = ${tenantId} AND ${exact} LIMIT ${limit}`
  },
  serialise: () => null,
  forUpdate: Prisma.empty,
  skipLocked: Prisma.empty,
  jsonTime: sqliteTime,
}

/** The PostgreSQL type each JSON column type is cast to. */
export const PG_TYPES: Record<JsonColumn, string> = {
  text: 'text',
  int: 'integer',
  bigint: 'bigint',
  float: 'double precision',
  time: 'timestamp(3)',
}

/** LIKE's own wildcards and escape character, made literal. */
const likeLiteral = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`)

/** The expression the trigram index is built on (prisma/postgresql/migrations/…_init). */
const SEARCH_EXPRESSION = `(coalesce(s.status_id, '') || E'\\n' || coalesce(s.message, '') || E'\\n' || coalesce(s.resource_id, ''))`

export const postgresDialect: Dialect = {
  provider: 'postgresql',
  selectJsonRows(lead, rows, columns) {
    const values = columns.map((type, i) => `(value ->> ${i})::${PG_TYPES[type]}`).join(', ')
    return Prisma.sql`SELECT ${lead}, ${Prisma.raw(values)} FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb)`
  },
  jsonRowsTable(rows, columns) {
    const values = columns
      .map(([name, type], i) => `(value ->> ${i})::${PG_TYPES[type]} AS ${name}`)
      .join(', ')
    return Prisma.sql`SELECT ${Prisma.raw(values)} FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb)`
  },
  jsonStrings: (values) => Prisma.sql`SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb)`,
  jsonStringsDirect: 'SELECT jsonb_array_elements_text(?::jsonb)',
  // COLLATE "C": lower() then folds ASCII letters only, whatever the database's locale.
  containsFolded: (column, needle) =>
    Prisma.sql`strpos(lower(coalesce(${Prisma.raw(column)}, '') COLLATE "C"), lower(${needle}::text COLLATE "C")) > 0`,
  contains: (value) => ({ contains: value, mode: 'insensitive' }) as Prisma.StringFilter,
  searchCandidates(tenantId, needle, exact, limit) {
    return Prisma.sql`SELECT s.status_id FROM statuses s
      WHERE s.tenant_id = ${tenantId} AND ${Prisma.raw(SEARCH_EXPRESSION)} ILIKE ${`%${likeLiteral(needle)}%`}
      AND ${exact} LIMIT ${limit}`
  },
  // Transaction-scoped advisory locks on 64-bit hashes of the keys, released at commit or rollback, taken
  // in the order of the hashes (equal hashes only make unrelated keys wait for each other).
  serialise: (keys) =>
    keys.length === 0
      ? null
      : Prisma.sql`SELECT count(pg_advisory_xact_lock(h)) AS locked FROM (SELECT DISTINCT hashtextextended(k, 0) AS h
          FROM jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb) k ORDER BY h) l`,
  forUpdate: Prisma.sql` FOR UPDATE`,
  skipLocked: Prisma.sql` FOR UPDATE SKIP LOCKED`,
  jsonTime: (date) => (date === null ? null : date.toISOString()),
}
