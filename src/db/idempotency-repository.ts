import type { Dialect, JsonColumn } from './dialect'
import { Prisma, type Db } from './prisma'

/** The columns after tenant_id, as they travel in JSON rows. */
const RESULT_JSON: readonly JsonColumn[] = ['text', 'text', 'int', 'text', 'text', 'time']

export interface IdempotentResult {
  fingerprint: string
  statusCode: number
  body: unknown
}

export function createIdempotencyRepository(
  dialect: Pick<Dialect, 'jsonStrings' | 'selectJsonRows' | 'jsonTime'>,
) {
  return {
    /**
     * The stored, unexpired results for `keys`. The writer takes the keys' turns first (the status
     * repository's `lockForWrite`), so that one request of several with the same key runs the write.
     */
    async findMany(
      db: Db,
      tenantId: string,
      keys: string[],
      notBefore: Date,
    ): Promise<Map<string, IdempotentResult>> {
      const rows = await db.$queryRaw<
        { key: string; fingerprint: string; status_code: number; body: string; created_at: unknown }[]
      >`
        SELECT key, fingerprint, status_code, body, created_at FROM idempotency_records
        WHERE tenant_id = ${tenantId} AND key IN (${dialect.jsonStrings(keys)})`
      const found = new Map<string, IdempotentResult>()
      for (const row of rows) {
        if (new Date(row.created_at as string | Date) < notBefore) continue
        found.set(row.key, {
          fingerprint: row.fingerprint,
          statusCode: row.status_code,
          body: JSON.parse(row.body),
        })
      }
      return found
    },

    /** Upserts: an expired record under the same key is replaced by the new request's result. */
    async saveMany(
      db: Db,
      tenantId: string,
      results: { key: string; result: IdempotentResult }[],
      now: Date,
    ): Promise<void> {
      if (results.length === 0) return
      const rows = results.map(({ key, result }) => [
        key,
        result.fingerprint,
        result.statusCode,
        JSON.stringify(result.body),
        '{}',
        dialect.jsonTime(now),
      ])
      // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
      await db.$executeRaw`INSERT INTO idempotency_records (tenant_id, key, fingerprint, status_code, body, headers,
        created_at) ${dialect.selectJsonRows(Prisma.sql`${tenantId}`, rows, RESULT_JSON)} WHERE true
        ON CONFLICT (tenant_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
        status_code = excluded.status_code, body = excluded.body, headers = excluded.headers,
        created_at = excluded.created_at`
    },
  }
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>
