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

/** An error the client caused or can act on; `code` is the stable problem type clients switch on. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly errors?: Issue[],
  ) {
    super(message)
  }
}

export const validationFailed = (errors: Issue[], message = 'The request is not valid') =>
  new AppError('validation-failed', 400, message, {}, errors)
export const eventsExpired = (afterSeq: number) =>
  new AppError(
    'events-expired',
    410,
    `Events after seq ${afterSeq} are no longer all kept (retention); read the current statuses and resume from the latest seq`,
    { after_seq: afterSeq },
  )
export const statusNotFound = (id: string) => new AppError('status-not-found', 404, `Status ${id} not found`)
export const statusExists = (id: string) =>
  new AppError('status-already-exists', 409, `Status ${id} already exists`, { status_id: id })
export const invalidTransition = (from: string, to: string) =>
  new AppError('invalid-transition', 409, `A status cannot move from ${from} to ${to}`, { from, to })
export const statusTerminal = (id: string, status: string) =>
  new AppError('status-terminal', 409, `Status ${id} is ${status} and can no longer change`, {
    current_status: status,
  })
/** A search whose `%` or `_` made it a scan, matching more statuses than can be listed by id. */
export const searchTooBroad = (max: number) =>
  new AppError(
    'search-too-broad',
    422,
    `A search containing % or _ may match at most ${max} statuses; narrow it`,
  )

export const versionMismatch = (expected: number, actual: number) =>
  new AppError(
    'version-mismatch',
    412,
    `Expected version ${expected} but the status is at version ${actual}`,
    {
      expected_version: expected,
      current_version: actual,
    },
  )
export const writeConflict = (id: string) =>
  new AppError(
    'write-conflict',
    409,
    `Status ${id} changed too often while this request was applied; retry it`,
  )
export const idempotencyKeyReused = () =>
  new AppError(
    'idempotency-key-reused',
    422,
    'This Idempotency-Key was already used with a different request',
  )
export const idempotencyInProgress = () =>
  new AppError(
    'idempotency-request-in-progress',
    409,
    'A request with this Idempotency-Key is still in progress',
  )
export const unauthenticated = () =>
  new AppError(
    'unauthenticated',
    401,
    'A valid API key is required (Authorization: Bearer <key> or X-API-Key)',
  )
export const forbidden = (scope: string) =>
  new AppError('insufficient-scope', 403, `This API key lacks the ${scope} scope`, { required_scope: scope })
export const notFound = (what: string) => new AppError('not-found', 404, `${what} not found`)
export const invalidCursor = () =>
  new AppError('invalid-cursor', 400, 'The cursor is malformed, tampered with or belongs to another query')
export const webhookNotFound = (id: string) =>
  new AppError('webhook-not-found', 404, `Webhook ${id} not found`)
export const deliveryNotFound = (id: string) =>
  new AppError('delivery-not-found', 404, `Delivery ${id} not found`)
export const deliveryPending = (id: string) =>
  new AppError(
    'delivery-pending',
    409,
    `Delivery ${id} is still pending: it is sent at its next_attempt_at without being asked`,
  )

/** The database could not be reached, or dropped the connection mid-request: nothing was acknowledged. */
export const databaseUnavailable = () =>
  new AppError('database-unavailable', 503, 'The database is not reachable right now; retry shortly', {
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
