import { createHmac, timingSafeEqual } from 'node:crypto'
import { tokenExpired, unauthenticated } from '../errors'
import type { EventSelector } from '../domain/event-selector'
import type { ApiKey, ApiKeyService } from './api-key-service'

/**
 * What a browser token lets its bearer do (SPEC §13): read these statuses of this tenant, or a parent
 * and its descendants (§12), until then.
 */
export interface Grant {
  /** The key that issued it; revoking the key ends the token. */
  keyId: string
  tenantId: string
  statusIds: ReadonlySet<string>
  parentId: string | null
  expiresAt: Date
  /** Whether the token reads this status: one it names, its parent, or one of the parent's descendants. */
  covers(statusId: string): Promise<boolean>
}

/** The most statuses of a parent's tree a live channel starts from; more are followed as they are made. */
const TREE_LIMIT = 10_000

/**
 * What a live channel of a token's may follow: the statuses it `asked` for that the token covers, or,
 * when it asked for none, all of them: the named ones, and a parent's tree as it is and as it grows.
 * Without a grant (an API key), what it asked for.
 */
export async function followable(
  grant: Grant | undefined,
  asked: string[] | undefined,
  tree: (rootId: string, limit: number) => Promise<string[]>,
): Promise<EventSelector> {
  if (!grant) return { ids: asked }
  if (asked) {
    const covered = await Promise.all(asked.map((id) => grant.covers(id)))
    return { ids: asked.filter((_, i) => covered[i]) }
  }
  const ids = [...grant.statusIds]
  if (grant.parentId === null) return { ids }
  return { ids, tree: [grant.parentId, ...(await tree(grant.parentId, TREE_LIMIT))] }
}

/** Browser tokens start so, apart from API keys (`st_…`). */
export const TOKEN_PREFIX = 'stt_'

interface Payload {
  v: 1
  /** The issuing key's id, its tenant, the statuses, a parent, and the expiry in seconds since the epoch. */
  k: string
  t: string
  s: string[]
  p?: string
  e: number
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

export interface TokenServiceDeps {
  /** The HMAC key, kept in the database so that every instance accepts every instance's tokens. */
  secret: string
  apiKeys: Pick<ApiKeyService, 'active'>
  /** A status and its ancestors, nearest first (empty when there is no such status). */
  lineage: (tenantId: string, statusId: string) => Promise<string[]>
  clock: () => Date
}

/**
 * Short-lived, read-only, scoped browser tokens: `stt_<payload>.<signature>`, HMAC-SHA256 over the
 * payload. Nothing is stored: a token is valid while its signature holds, it has not expired and the
 * key that issued it is active (looked up by id through the key cache, so a revocation reaches every
 * instance within the cache's time).
 */
export function createTokenService({ secret, apiKeys, lineage, clock }: TokenServiceDeps) {
  const sign = (payload: string) => createHmac('sha256', secret).update(payload).digest('base64url')

  return {
    issue(
      key: ApiKey,
      scope: { status_ids?: string[]; parent_id?: string; ttl_s: number },
    ): { token: string; expires_at: Date } {
      const expires = Math.floor(clock().getTime() / 1000) + scope.ttl_s
      const payload: Payload = {
        v: 1,
        k: key.id,
        t: key.tenant_id,
        s: [...new Set(scope.status_ids ?? [])],
        ...(scope.parent_id !== undefined && { p: scope.parent_id }),
        e: expires,
      }
      const body = encode(payload)
      return { token: `${TOKEN_PREFIX}${body}.${sign(body)}`, expires_at: new Date(expires * 1000) }
    },

    /** The token's grant; `unauthenticated` when it is not one of ours or its key is gone, `token-expired`. */
    async verify(token: string): Promise<{ grant: Grant; key: ApiKey }> {
      const [body, signature, extra] = token.slice(TOKEN_PREFIX.length).split('.')
      if (!token.startsWith(TOKEN_PREFIX) || !body || !signature || extra !== undefined)
        throw unauthenticated()
      const expected = Buffer.from(sign(body))
      const given = Buffer.from(signature)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthenticated()
      // Signed by us, so well-formed: parsed without further checks.
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload
      if (payload.e * 1000 <= clock().getTime()) throw tokenExpired()
      const key = await apiKeys.active(payload.k)
      if (!key || key.tenant_id !== payload.t) throw unauthenticated()
      const statusIds = new Set(payload.s)
      const parentId = payload.p ?? null
      return {
        key,
        grant: {
          keyId: payload.k,
          tenantId: payload.t,
          statusIds,
          parentId,
          expiresAt: new Date(payload.e * 1000),
          async covers(statusId) {
            if (statusIds.has(statusId)) return true
            if (parentId === null) return false
            return statusId === parentId || (await lineage(payload.t, statusId)).includes(parentId)
          },
        },
      }
    },
  }
}

export type TokenService = ReturnType<typeof createTokenService>
