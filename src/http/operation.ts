import type { Request, RequestHandler, Response, Router } from 'express'
import type { z } from 'zod'
import type { ZodOpenApiOperationObject, ZodOpenApiResponsesObject, oas31 } from 'zod-openapi'
import type { Scope } from '../services/api-key-service'
import { AppError } from '../errors'
import { json, Problems } from './answers'
import { requireScope } from './auth'

/**
 * One HTTP operation, declared once: Express mounts it from this (`mount`), and the OpenAPI document
 * describes it from this (`describe`), so the path, the scope, the schemas and the answers with their
 * problem codes are never written twice. tests/integration/openapi.test.ts checks both directions.
 */
export interface Operation {
  method: 'get' | 'post' | 'put' | 'delete'
  /** The whole path in Express's syntax (`/api/status/:id`); it is also the request metrics' route label. */
  path: string
  /** The key's scope an `/api` operation needs; `null` for a public one (no key, no rate limit). */
  scope: Scope | null
  /** A browser token may call it, within its statuses (SPEC §13); every other operation is 403 for one. */
  tokens?: true
  tag: string
  summary: string
  description?: string
  /** Parsed into `input.params` before the handler runs. */
  params?: z.ZodObject
  /** Parsed into `input.query` before the handler runs (unless `readsItself`). */
  query?: z.ZodType
  /** Described only: headers carry meanings the handler reads one by one (idempotency, versions). */
  headers?: z.ZodObject
  /** Parsed into `input.body` before the handler runs (unless `readsItself`). */
  body?: z.ZodType
  /** What the document shows as the body when it is more than what is parsed up front. */
  documentedBody?: z.ZodType
  /** The body may be absent (default: it is required). */
  bodyOptional?: boolean
  /** The handler reads query and body itself (they are alternatives); only `params` is parsed for it. */
  readsItself?: boolean
  /** The answers besides the ones every `/api` operation may give (auth, rate limit, unavailable). */
  responses: ZodOpenApiResponsesObject
}

/** Keeps each operation's literal type, so a handler's `input` is typed from its schemas. */
export const operations = <const T extends Record<string, Operation>>(declared: T): T => declared

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined

/** What a handler is given: its request's params, query and body, parsed by the declared schemas. */
export interface Input<O extends Operation> {
  params: Parsed<O['params']>
  query: O['readsItself'] extends true ? undefined : Parsed<O['query']>
  body: O['readsItself'] extends true ? undefined : Parsed<O['body']>
}

export type Handler<O extends Operation> = (input: Input<O>, req: Request, res: Response) => unknown

/** A handler for each declared operation, by operationId: the compiler holds both lists equal. */
export type Handlers<T extends Record<string, Operation>> = { [K in keyof T]: Handler<T[K]> }

/**
 * Mounts `declared` on `router`, which is mounted at `base` (the part of each path it does not see).
 * Each route first names itself for the request metrics, then checks the scope, then parses the input.
 */
export function mount<T extends Record<string, Operation>>(
  router: Router,
  base: string,
  declared: T,
  handlers: Handlers<T>,
): Router {
  for (const [operationId, operation] of Object.entries(declared)) {
    if (!operation.path.startsWith(base))
      throw new Error(`${operationId}: ${operation.path} is not under ${base}`)
    const handler = handlers[operationId] as Handler<Operation>
    const { params, query, body, readsItself, scope } = operation
    const named: RequestHandler = (_req, res, next) => {
      res.locals.route = operation.path
      next()
    }
    const guards = scope ? [named, requireScope(scope, operation.tokens === true)] : [named]
    router[operation.method](operation.path.slice(base.length) || '/', ...guards, (req, res) => {
      // A body the JSON parser left alone (another type) is no absent body, even where one is optional.
      if (operation.bodyOptional && !readsItself && req.body === undefined && hasBody(req))
        throw new AppError('unsupported-encoding', 'The body must be JSON (Content-Type: application/json)')
      return handler(
        {
          params: params?.parse(req.params),
          query: readsItself ? undefined : query?.parse(req.query),
          body: readsItself ? undefined : body?.parse(req.body),
        },
        req,
        res,
      )
    })
  }
  return router
}

const hasBody = (req: Request) =>
  req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0

const security = (scope: Scope): oas31.SecurityRequirementObject[] => [
  { bearerAuth: [scope] },
  { apiKeyHeader: [scope] },
]

/** The OpenAPI path of an Express path: `/api/status/:id` is `/api/status/{id}`. */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}')

/**
 * The operation as OpenAPI describes it. An `/api` operation also lists what any of them may answer: 400
 * when it takes input, 401 and 403 (the key), 413 and 415 when it takes a body, 429 and 503.
 */
export function describe(operationId: string, operation: Operation): ZodOpenApiOperationObject {
  const { params, query, headers, scope } = operation
  const body = operation.documentedBody ?? operation.body
  const requestParams = params || query || headers ? { path: params, query, header: headers } : undefined
  const described: ZodOpenApiOperationObject = {
    tags: [operation.tag],
    summary: operation.summary,
    operationId,
    ...(operation.description && { description: operation.description }),
    security: scope ? security(scope) : [],
    ...(scope && { 'x-required-scope': scope }),
    ...(operation.tokens && { 'x-browser-token': true }),
    ...(requestParams && {
      requestParams: Object.fromEntries(Object.entries(requestParams).filter(([, schema]) => schema)),
    }),
    ...(body && { requestBody: { required: !operation.bodyOptional, content: json(body) } }),
    responses: operation.responses,
  }
  if (!scope) return described
  return {
    ...described,
    responses: {
      ...operation.responses,
      ...((body || params || query || headers) && { '400': Problems.badRequest }),
      '401': Problems.unauthenticated,
      '403': Problems.forbidden,
      ...(body && { '413': Problems.payloadTooLarge, '415': Problems.unsupportedEncoding }),
      '429': operation.responses['429'] ?? Problems.rateLimited,
      '503': Problems.unavailable,
    },
  }
}
