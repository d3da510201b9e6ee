import type { Request, RequestHandler } from 'express'
import { forbidden, statusNotFound, unauthenticated } from '../errors'
import { hasScope, type ApiKey, type ApiKeyService, type Scope } from '../services/api-key-service'
import { TOKEN_PREFIX, type Grant, type TokenService } from '../services/token-service'

declare module 'express-serve-static-core' {
  interface Request {
    /** The caller's key: its own, or for a browser token the issuing key's, with `status:read` only. */
    auth?: ApiKey
    /** A browser token's scope (SPEC §13); absent for an API key. */
    grant?: Grant
  }
}

/** What a request may authenticate with: an API key, or a browser token signed by this service. */
export interface Credentials {
  apiKeys: ApiKeyService
  tokens: TokenService
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function keyFromHeaders(
  authorization: string | undefined,
  apiKey: string | undefined,
): string | undefined {
  const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1]
  return bearer ?? (apiKey?.trim() || undefined)
}

/**
 * The credential a request carries: a key or token in a header, or a browser token in the `token` query
 * parameter (for `EventSource`, which cannot set headers; a route takes it only where its query schema
 * declares it). An API key in a URL is never taken: URLs end up in logs and referrers.
 */
function credentialOf(req: Request): string | undefined {
  const fromHeaders = keyFromHeaders(req.get('authorization'), req.get('x-api-key'))
  if (fromHeaders !== undefined) return fromHeaders
  const query = req.query.token
  return typeof query === 'string' && query.startsWith(TOKEN_PREFIX) ? query : undefined
}

/** A key, or a token's issuing key narrowed to reading, with the token's grant. Throws 401s for tokens. */
export async function identify(
  { apiKeys, tokens }: Credentials,
  secret: string,
): Promise<{ key: ApiKey; grant?: Grant } | null> {
  if (!secret.startsWith(TOKEN_PREFIX)) {
    const key = await apiKeys.authenticate(secret)
    return key && { key }
  }
  const { key, grant } = await tokens.verify(secret)
  return { key: { ...key, scopes: ['status:read'] }, grant }
}

/**
 * First in line for `/api`, before logging: knows the caller's key when it can (a cached lookup), for
 * the rate limit right after (a browser token counts against its issuing key). Never refuses: a
 * missing or unknown key, or a lookup that failed, is left to `authenticate`, which answers it in the
 * logged pipeline.
 */
export function identifyKey(credentials: Credentials): RequestHandler {
  return async (req, _res, next) => {
    const secret = credentialOf(req)
    if (secret !== undefined && req.method !== 'OPTIONS') {
      const found = await identify(credentials, secret).catch(() => null)
      req.auth = found?.key
      req.grant = found?.grant
    }
    next()
  }
}

/** The caller's key (or token), or 401; already known when `identifyKey` ran first. */
export function authenticate(credentials: Credentials): RequestHandler {
  return async (req, _res, next) => {
    if (req.auth) return next()
    const secret = credentialOf(req)
    const found = secret === undefined ? null : await identify(credentials, secret)
    if (!found) throw unauthenticated()
    req.auth = found.key
    req.grant = found.grant
    next()
  }
}

/** The key's scope; a browser token reaches only the operations that take one (`tokens`). */
export function requireScope(scope: Scope, tokens = false): RequestHandler {
  return (req, _res, next) => {
    if (!req.auth) throw unauthenticated()
    if (!hasScope(req.auth, scope) || (req.grant && !tokens)) throw forbidden(scope)
    next()
  }
}

/** A browser token sees only its statuses: any other is not found, as another tenant's would be. */
export async function checkGrant(req: { grant?: Grant }, statusId: string): Promise<void> {
  if (req.grant && !(await req.grant.covers(statusId))) throw statusNotFound(statusId)
}

/** The caller's tenant; only reachable behind `authenticate`. */
export const tenantOf = (req: { auth?: ApiKey }): string => {
  if (!req.auth) throw unauthenticated()
  return req.auth.tenant_id
}
