import type { Dialect } from './dialect'
import type { Db } from './prisma'

export interface IdempotentResult {
  fingerprint: string
  statusCode: number
  body: unknown
}

export function createIdempotencyRepository(dialect: Pick<Dialect, 'serialise'>) {
  return {
    /**
     * The stored result for the key. Requests with the same key then take turns until this transaction
     * commits (on PostgreSQL, where they can overlap), so exactly one of them runs the write.
     */
    async find(db: Db, tenantId: string, key: string, notBefore: Date): Promise<IdempotentResult | null> {
      const turn = dialect.serialise(`idempotency:${tenantId}:${key}`)
      if (turn) await db.$queryRaw(turn)
      const row = await db.idempotencyRecord.findUnique({ where: { tenantId_key: { tenantId, key } } })
      if (!row || row.createdAt < notBefore) return null
      return { fingerprint: row.fingerprint, statusCode: row.statusCode, body: JSON.parse(row.body) }
    },

    /** Upsert: an expired record under the same key is replaced by the new request's result. */
    async save(db: Db, tenantId: string, key: string, result: IdempotentResult, now: Date): Promise<void> {
      const data = {
        fingerprint: result.fingerprint,
        statusCode: result.statusCode,
        body: JSON.stringify(result.body),
        headers: '{}',
        createdAt: now,
      }
      await db.idempotencyRecord.upsert({
        where: { tenantId_key: { tenantId, key } },
        create: { tenantId, key, ...data },
        update: data,
      })
    },
  }
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>
