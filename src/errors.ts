import type { ZodError } from 'zod'

export interface Issue {
  path: string
  message: string
}

/** A zod error's issues as a problem's `errors`: a dotted path and a message each. */
export const zodIssues = (err: ZodError): Issue[] =>
  err.issues.map((issue) => ({
    path: issue.path.join('.'),
    message:
      issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
  }))

/**
 * Every problem `code` the HTTP API answers with, its status, and what it means: throwers take the
 * status from here and the OpenAPI document its descriptions, so neither is written twice.
 */
export const PROBLEMS = {
  'validation-failed': {
    status: 400,
    means:
      'the request is not valid (with `errors`; also a lone surrogate in any string or key, or a `__proto__` key)',
  },
  'malformed-json': { status: 400, means: 'the body is not valid JSON' },
  'nesting-too-deep': { status: 400, means: 'a body nested over 32 levels (with `max_depth`)' },
  'invalid-cursor': {
    status: 400,
    means: 'the cursor is malformed, tampered with or belongs to another query',
  },
  'filter-required': { status: 400, means: 'bulk cancel was given no filter (it never cancels everything)' },
  'bad-request': { status: 400, means: 'a body the parser refused for another reason (its own 4xx status)' },
  unauthenticated: {
    status: 401,
    means: 'no API key or browser token, or not a valid one (also a token whose key was revoked)',
  },
  'token-expired': {
    status: 401,
    means: 'the browser token is past its `expires_at`: ask the application for a new one',
  },
  'insufficient-scope': {
    status: 403,
    means: 'the key lacks the scope this route needs (with `required_scope`)',
  },
  'status-not-found': {
    status: 404,
    means: "no such status in the caller's tenant (another tenant's is 404 too)",
  },
  'webhook-not-found': { status: 404, means: "no such webhook in the caller's tenant" },
  'delivery-not-found': { status: 404, means: 'no such delivery of this webhook' },
  'not-found': { status: 404, means: 'no active key with this id in the tenant' },
  'route-not-found': { status: 404, means: 'no such route' },
  'invalid-transition': { status: 409, means: 'the status cannot move there (with `from`, `to`)' },
  'status-terminal': {
    status: 409,
    means: 'the status is finished and can no longer change (with `current_status`)',
  },
  'status-already-exists': { status: 409, means: 'a status with this id exists (with `status_id`)' },
  'write-conflict': { status: 409, means: 'kept for clients: the one writer no longer produces it' },
  'idempotency-request-in-progress': {
    status: 409,
    means: 'kept for clients: the one writer no longer produces it',
  },
  'has-children': {
    status: 409,
    means: 'the status has children: delete it with `?cascade=true` to delete them too (with `children`)',
  },
  'delivery-pending': {
    status: 409,
    means: 'the delivery is still pending: it is sent at its `next_attempt_at`',
  },
  'events-expired': {
    status: 410,
    means:
      'retention already purged events after `after_seq` (with `after_seq`): read the statuses and resume from the latest `seq`',
  },
  'version-mismatch': {
    status: 412,
    means:
      '`If-Match` or `expected_version` is not the current version (with `expected_version`, `current_version`)',
  },
  'payload-too-large': { status: 413, means: 'the body is over 1 MiB' },
  'unsupported-encoding': { status: 415, means: 'a body encoding or charset we do not read' },
  'idempotency-key-reused': {
    status: 422,
    means: 'this `Idempotency-Key` was used with a different request',
  },
  'invalid-parent': {
    status: 422,
    means:
      '`parent_id` names no status of this tenant, a terminal one, the status itself, or one 5 levels deep (with `parent_id`, `reason`)',
  },
  'search-too-broad': {
    status: 422,
    means: 'a `tag` or short `q` with `%` or `_` matches more than 30,000 statuses; narrow it',
  },
  'rate-limited': { status: 429, means: 'over the per-key rate limit' },
  'too-many-subscriptions': { status: 429, means: 'at most 100 subscriptions per Socket.IO connection' },
  'too-many-waiters': { status: 429, means: 'at most 1,000 waiting reads (`wait=`) per API key at once' },
  'internal-error': { status: 500, means: 'something went wrong on our side' },
  'queue-full': { status: 503, means: 'the writer is full' },
  'shutting-down': { status: 503, means: 'the service is shutting down' },
  'database-unavailable': {
    status: 503,
    means:
      'the database connection failed; nothing was acknowledged, so a retry is safe where the request is idempotent',
  },
  'not-ready': { status: 503, means: 'the database is not reachable' },
} as const satisfies Record<string, { status: number; means: string }>

export type ProblemCode = keyof typeof PROBLEMS

/**
 * An error the client caused or can act on; `code` is the stable problem type clients switch on, and
 * its status is the registry's (`status` only for a parser's own 4xx behind `bad-request`).
 */
export class AppError extends Error {
  readonly status: number
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly errors?: Issue[],
    status?: number,
  ) {
    super(message)
    this.status = status ?? PROBLEMS[code].status
  }
}

export const validationFailed = (errors: Issue[], message = 'The request is not valid') =>
  new AppError('validation-failed', message, {}, errors)
export const eventsExpired = (afterSeq: number) =>
  new AppError(
    'events-expired',
    `Events after seq ${afterSeq} are no longer all kept (retention); read the current statuses and resume from the latest seq`,
    { after_seq: afterSeq },
  )
export const statusNotFound = (id: string) => new AppError('status-not-found', `Status ${id} not found`)
export const statusExists = (id: string) =>
  new AppError('status-already-exists', `Status ${id} already exists`, { status_id: id })
export const invalidTransition = (from: string, to: string) =>
  new AppError('invalid-transition', `A status cannot move from ${from} to ${to}`, { from, to })
export const statusTerminal = (id: string, status: string) =>
  new AppError('status-terminal', `Status ${id} is ${status} and can no longer change`, {
    current_status: status,
  })
export type ParentProblem = 'unknown' | 'terminal' | 'itself' | 'too-deep'
const PARENT_PROBLEMS: Record<ParentProblem, string> = {
  unknown: 'is not a status of this tenant',
  terminal: 'is terminal: it can take no new children',
  itself: 'is the status itself',
  'too-deep': 'is 5 levels deep already, the most a tree may have',
}
/** SPEC §12: a `parent_id` a status cannot have. */
export const invalidParent = (parentId: string, reason: ParentProblem) =>
  new AppError('invalid-parent', `Parent ${parentId} ${PARENT_PROBLEMS[reason]}`, {
    parent_id: parentId,
    reason,
  })
export const hasChildren = (id: string, children: number) =>
  new AppError(
    'has-children',
    `Status ${id} has ${children} ${children === 1 ? 'child' : 'children'}; delete with ?cascade=true to delete them too`,
    { children },
  )
/** A search whose `%` or `_` made it a scan, matching more statuses than can be listed by id. */
export const tooManyWaiters = (max: number) =>
  new AppError('too-many-waiters', `At most ${max} waiting reads per API key at once`, { max_waiters: max })
export const tokenExpired = () => new AppError('token-expired', 'The browser token has expired')
export const searchTooBroad = (max: number) =>
  new AppError('search-too-broad', `A search containing % or _ may match at most ${max} statuses; narrow it`)

export const versionMismatch = (expected: number, actual: number) =>
  new AppError('version-mismatch', `Expected version ${expected} but the status is at version ${actual}`, {
    expected_version: expected,
    current_version: actual,
  })
export const writeConflict = (id: string) =>
  new AppError('write-conflict', `Status ${id} changed too often while this request was applied; retry it`)
export const idempotencyKeyReused = () =>
  new AppError('idempotency-key-reused', 'This Idempotency-Key was already used with a different request')
export const unauthenticated = () =>
  new AppError('unauthenticated', 'A valid API key is required (Authorization: Bearer <key> or X-API-Key)')
export const forbidden = (scope: string) =>
  new AppError('insufficient-scope', `This API key lacks the ${scope} scope`, { required_scope: scope })
export const notFound = (what: string) => new AppError('not-found', `${what} not found`)
export const invalidCursor = () =>
  new AppError('invalid-cursor', 'The cursor is malformed, tampered with or belongs to another query')
export const webhookNotFound = (id: string) => new AppError('webhook-not-found', `Webhook ${id} not found`)
export const deliveryNotFound = (id: string) => new AppError('delivery-not-found', `Delivery ${id} not found`)
export const deliveryPending = (id: string) =>
  new AppError(
    'delivery-pending',
    `Delivery ${id} is still pending: it is sent at its next_attempt_at without being asked`,
  )

/** The database could not be reached, or dropped the connection mid-request: nothing was acknowledged. */
export const databaseUnavailable = () =>
  new AppError('database-unavailable', 'The database is not reachable right now; retry shortly', {
    retry_after: 1,
  })

// Node's socket errors, PostgreSQL's SQLSTATEs for a lost or refused connection (class 08, an
// administrator's or a crash's shutdown 57P01–57P03, too many connections 53300), Prisma's codes for an
// unreachable or closed server and its exhausted pool, and the driver adapter's kinds for the same.
const SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
])
const SQLSTATES = /^(08...|57P0[123]|53300)$/
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024'])
const ADAPTER_KINDS = new Set(['ConnectionClosed', 'DatabaseNotReachable', 'TooManyConnections'])
// pg's own errors for a connection that died under it carry no code.
const PG_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
]

/**
 * Whether `err`, thrown while serving a request, says the database connection failed (as opposed to a
 * query that is wrong): the request then did not commit and the answer is `503 database-unavailable`.
 * Duck-typed on the drivers' error shapes, so callers need not import them.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { name, code, message, meta, cause: own } = err as Record<string, unknown>
  if (
    typeof code === 'string' &&
    (SOCKET_CODES.has(code) || SQLSTATES.test(code) || PRISMA_CODES.has(code))
  ) {
    return true
  }
  // The adapter's error, bare or wrapped in Prisma's, carries the kind in its `cause`.
  type AdapterCause = { kind?: unknown; code?: unknown } | undefined
  const cause =
    name === 'DriverAdapterError'
      ? (own as AdapterCause)
      : (meta as { driverAdapterError?: { cause?: AdapterCause } } | undefined)?.driverAdapterError?.cause
  if (typeof cause === 'object' && cause !== null) {
    if (typeof cause.kind === 'string' && ADAPTER_KINDS.has(cause.kind)) return true
    if (typeof cause.code === 'string' && SQLSTATES.test(cause.code)) return true
  }
  return typeof message === 'string' && PG_MESSAGES.some((text) => message.startsWith(text))
}
