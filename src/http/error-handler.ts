// `req.log` is the access log's addition to Express's request (src/http/access-log.ts).
import { STATUS_CODES } from 'node:http'
import type { ErrorRequestHandler, RequestHandler, Response } from 'express'
import { ZodError } from 'zod'
import {
  AppError,
  databaseUnavailable,
  isDatabaseUnavailable,
  zodIssues,
  type Issue,
  type ProblemCode,
} from '../errors'

export const PROBLEM_TYPE_BASE = '/problems/'

/** The RFC 9457 body of a problem with our stable `code` (and its extra members, if any). */
export function problemBody(
  code: ProblemCode,
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
  errors?: Issue[],
): Record<string, unknown> {
  const members = {
    type: PROBLEM_TYPE_BASE + code,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
  }
  // RFC 9457's members lead and are written again last, so no extra member can ever replace them.
  return { ...members, ...extra, ...(errors && { errors }), ...members }
}

export function sendProblem(res: Response, err: AppError): void {
  if (typeof err.extra.retry_after === 'number') res.set('Retry-After', String(err.extra.retry_after))
  res
    .status(err.status)
    .type('application/problem+json')
    .json(problemBody(err.code, err.status, err.message, err.extra, err.errors))
}

/** Errors thrown by Express's own body parser carry a `type`; map them to our stable codes. */
function fromBodyParser(err: { type?: string; status?: number; message?: string }): AppError | null {
  switch (err.type) {
    case 'entity.too.large':
      return new AppError('payload-too-large', 'The request body is larger than 1 MiB')
    case 'entity.parse.failed':
      return new AppError('malformed-json', 'The request body is not valid JSON')
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('unsupported-encoding', err.message ?? 'Unsupported body encoding')
  }
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    return new AppError('bad-request', err.message ?? 'Bad request', {}, undefined, err.status)
  }
  return null
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError('route-not-found', `No route for ${req.method} ${req.path}`))
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (err instanceof AppError) return sendProblem(res, err)
  if (err instanceof ZodError) {
    return sendProblem(res, new AppError('validation-failed', 'The request is not valid', {}, zodIssues(err)))
  }
  const parsed = typeof err === 'object' && err !== null ? fromBodyParser(err) : null
  if (parsed) return sendProblem(res, parsed)
  if (isDatabaseUnavailable(err)) {
    req.log.warn({ err, req }, 'database unavailable')
    return sendProblem(res, databaseUnavailable())
  }
  req.log.error({ err, req }, 'unhandled error')
  sendProblem(res, new AppError('internal-error', 'Something went wrong on our side'))
}
