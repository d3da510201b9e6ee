import type { Problem } from './types'

/**
 * An error answer of the API, or a refusal on the realtime channel, with its RFC 9457 body. Switch on
 * `code` (stable kebab-case: `status-not-found`, `invalid-transition`, `version-mismatch`, …).
 */
export class StatusTrackerError extends Error {
  override readonly name = 'StatusTrackerError'
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly code: string
  /** Which fields were wrong, for `validation-failed`. */
  readonly errors?: { path: string; message: string }[]

  constructor(
    /** The whole body, including the fields some codes add (`from` and `to`, `current_version`, …). */
    readonly problem: Problem,
    /** The answer's headers, when the error came over HTTP. */
    readonly headers?: Headers,
  ) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`)
    this.type = problem.type
    this.title = problem.title
    this.status = problem.status
    this.detail = problem.detail
    this.code = problem.code
    if (problem.errors) this.errors = problem.errors
  }
}

/** The request got no answer (refused, reset, timed out) on its last attempt; `cause` is the last failure. */
export class StatusTrackerNetworkError extends Error {
  override readonly name = 'StatusTrackerNetworkError'
  constructor(
    message: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/** An error answer whose body is not a problem document (a proxy's HTML page, say). */
export function problemFromStatus(status: number, statusText: string, body: string): Problem {
  const title = STATUS_TITLES[status] ?? (statusText || 'Error')
  return {
    type: 'about:blank',
    title,
    status,
    detail: body.trim().slice(0, 500) || title,
    code: `http-${status}`,
  }
}

function isProblem(body: unknown): body is Problem {
  const b = body as Partial<Problem> | null
  return typeof b === 'object' && b !== null && typeof b.code === 'string' && typeof b.status === 'number'
}

export function problemFromBody(status: number, statusText: string, text: string): Problem {
  try {
    const body: unknown = JSON.parse(text)
    if (isProblem(body)) return body
  } catch {
    // not JSON: described from the status below
  }
  return problemFromStatus(status, statusText, text)
}

// The realtime channel answers refusals with `{ code, message }`; they get the status the same refusal
// has over HTTP, so callers can treat both alike.
const SOCKET_STATUS: Record<string, number> = {
  unauthenticated: 401,
  'insufficient-scope': 403,
  'validation-failed': 400,
  'too-many-subscriptions': 429,
  'resync-required': 410,
  'subscription-not-found': 404,
}

export function problemFromSocket(error: {
  code?: unknown
  message?: unknown
  errors?: { path: string; message: string }[]
}): Problem {
  const code = typeof error.code === 'string' ? error.code : 'internal-error'
  const status = SOCKET_STATUS[code] ?? 500
  return {
    type: `/problems/${code}`,
    title: STATUS_TITLES[status] ?? 'Error',
    status,
    detail: typeof error.message === 'string' ? error.message : code,
    code,
    ...(error.errors && { errors: error.errors }),
  }
}
