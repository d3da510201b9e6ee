export interface Issue {
  path: string
  message: string
}

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
