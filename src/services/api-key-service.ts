import { createHash, randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { ApiKeyRow, KeyRepository } from '../db/key-repository'
import type { Database } from '../db/prisma'

export const SCOPES = ['status:read', 'status:write', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex')

export interface ApiKeyServiceDeps {
  db: Database
  keys: KeyRepository
  clock: () => Date
  /** How long a verified key is trusted without asking the database (a revocation elsewhere takes this long). */
  cacheTtlMs?: number
}

/** `admin` includes every other scope. */
/** An API key as authentication finds it: its id, tenant, scopes and revocation. */
export type ApiKey = ApiKeyRow

export const hasScope = (key: ApiKeyRow, scope: Scope) =>
  key.scopes.includes('admin') || key.scopes.includes(scope)

export function createApiKeyService({ db, keys, clock, cacheTtlMs = 5_000 }: ApiKeyServiceDeps) {
  const cache = new LRUCache<string, ApiKeyRow>({ max: 10_000, ttl: cacheTtlMs })
  // Browser tokens name the key that issued them: it is looked up by id, and cached as long.
  const byId = new LRUCache<string, ApiKeyRow>({ max: 10_000, ttl: cacheTtlMs })

  /** Creates a key (and its tenant when new); the secret is returned once and only its hash is kept. */
  async function create(tenantId: string, scopes: Scope[]): Promise<{ key: ApiKeyRow; secret: string }> {
    const secret = `st_${randomBytes(24).toString('base64url')}`
    const id = `key_${randomBytes(8).toString('hex')}`
    const key = await db.write(async (tx) => {
      await keys.ensureTenant(tx, tenantId)
      return keys.insert(tx, { id, tenantId, hash: hashSecret(secret), prefix: secret.slice(0, 10), scopes })
    })
    return { key, secret }
  }

  return {
    create,

    async authenticate(secret: string): Promise<ApiKeyRow | null> {
      const hash = hashSecret(secret)
      const cached = cache.get(hash)
      if (cached) return cached
      const key = await keys.findActiveByHash(db.read, hash)
      if (key) cache.set(hash, key)
      return key
    },

    /** The active key with this id (a browser token's issuer), or null once it is revoked. */
    async active(id: string): Promise<ApiKeyRow | null> {
      const cached = byId.get(id)
      if (cached) return cached
      const key = await keys.findActiveById(db.read, id)
      if (key) byId.set(id, key)
      return key
    },

    /** The key of `secret` when this process verified it lately (no database trip), else undefined. */
    known: (secret: string): ApiKeyRow | undefined => cache.get(hashSecret(secret)),

    list: (tenantId?: string) => keys.list(db.read, tenantId),

    async revoke(id: string, tenantId?: string): Promise<boolean> {
      const revoked = await db.write((tx) => keys.revoke(tx, id, clock(), tenantId))
      cache.clear()
      byId.clear()
      return revoked
    },

    /** On first start with an empty database: an admin key for tenant `default`, or null when keys exist. */
    async bootstrap(): Promise<string | null> {
      if ((await keys.countKeys(db.read)) > 0) return null
      const { secret } = await create('default', ['admin'])
      return secret
    },
  }
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>
