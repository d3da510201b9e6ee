import type { RequestHandler } from 'express'
import { forbidden, unauthenticated } from '../errors'
import { hasScope, type ApiKey, type ApiKeyService, type Scope } from '../services/api-key-service'

declare module 'express-serve-static-core' {
  interface Request {
    auth?: ApiKey
  }
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
 * First in line for `/api`, before logging: knows the caller's key when it can (a cached lookup), for
 * the rate limit right after. Never refuses: a missing or unknown key, or a lookup that failed, is
 * left to `authenticate`, which answers it in the logged pipeline.
 */
export function identifyKey(apiKeys: ApiKeyService): RequestHandler {
  return async (req, _res, next) => {
    const secret = keyFromHeaders(req.get('authorization'), req.get('x-api-key'))
    if (secret !== undefined && req.method !== 'OPTIONS') {
      req.auth = (await apiKeys.authenticate(secret).catch(() => null)) ?? undefined
    }
    next()
  }
}

/** The caller's key, or 401; already known when `identifyKey` ran first. */
export function authenticate(apiKeys: ApiKeyService): RequestHandler {
  return async (req, _res, next) => {
    if (req.auth) return next()
    const secret = keyFromHeaders(req.get('authorization'), req.get('x-api-key'))
    const key = secret === undefined ? null : await apiKeys.authenticate(secret)
    if (!key) throw unauthenticated()
    req.auth = key
    next()
  }
}

export function requireScope(scope: Scope): RequestHandler {
  return (req, _res, next) => {
    if (!req.auth) throw unauthenticated()
    if (!hasScope(req.auth, scope)) throw forbidden(scope)
    next()
  }
}

/** The caller's tenant; only reachable behind `authenticate`. */
export const tenantOf = (req: { auth?: ApiKey }): string => {
  if (!req.auth) throw unauthenticated()
  return req.auth.tenant_id
}
