import type { Db } from './prisma'

export interface ApiKeyRow {
  id: string
  tenant_id: string
  prefix: string
  scopes: string[]
  created_at: Date
  revoked_at: Date | null
}

const toKey = (row: {
  id: string
  tenantId: string
  prefix: string
  scopes: string
  createdAt: Date
  revokedAt: Date | null
}): ApiKeyRow => ({
  id: row.id,
  tenant_id: row.tenantId,
  prefix: row.prefix,
  scopes: row.scopes.split(',').filter(Boolean),
  created_at: row.createdAt,
  revoked_at: row.revokedAt,
})

export function createKeyRepository() {
  return {
    async ensureTenant(db: Db, tenantId: string): Promise<void> {
      await db.tenant.upsert({ where: { id: tenantId }, create: { id: tenantId }, update: {} })
    },

    async countKeys(db: Db): Promise<number> {
      return db.apiKey.count()
    },

    async insert(
      db: Db,
      key: { id: string; tenantId: string; hash: string; prefix: string; scopes: string[] },
    ) {
      const row = await db.apiKey.create({ data: { ...key, scopes: key.scopes.join(',') } })
      return toKey(row)
    },

    async findActiveByHash(db: Db, hash: string): Promise<ApiKeyRow | null> {
      const row = await db.apiKey.findUnique({ where: { hash } })
      return row && row.revokedAt === null ? toKey(row) : null
    },

    async findActiveById(db: Db, id: string): Promise<ApiKeyRow | null> {
      const row = await db.apiKey.findUnique({ where: { id } })
      return row && row.revokedAt === null ? toKey(row) : null
    },

    async list(db: Db, tenantId?: string): Promise<ApiKeyRow[]> {
      const rows = await db.apiKey.findMany({
        where: tenantId === undefined ? {} : { tenantId },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      })
      return rows.map(toKey)
    },

    /** Returns false when no active key has that id (inside the tenant, when one is given). */
    async revoke(db: Db, id: string, now: Date, tenantId?: string): Promise<boolean> {
      const { count } = await db.apiKey.updateMany({
        where: { id, revokedAt: null, ...(tenantId === undefined ? {} : { tenantId }) },
        data: { revokedAt: now },
      })
      return count === 1
    },
  }
}

export type KeyRepository = ReturnType<typeof createKeyRepository>
