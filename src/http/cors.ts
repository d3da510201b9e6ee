import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from 'cors'

/**
 * Which browser origins may read the API's answers: any (`*`), none, or these. Every request is
 * authenticated by a key it carries in a header, never by a cookie, so allowing an origin lets a page
 * there use a key it was given; it grants nothing without one.
 */
export type CorsOrigins = '*' | string[]

/** Response headers a cross-origin caller needs to read: versions, created paths, rate limits, replays. */
const EXPOSED_HEADERS = [
  'ETag',
  'Location',
  'Retry-After',
  'RateLimit',
  'RateLimit-Policy',
  'Idempotent-Replayed',
]

/** The `origin` option of the cors package (and of Socket.IO, which uses it) for `origins`. */
export const corsOrigin = (origins: CorsOrigins): string | string[] | false =>
  origins === '*' ? '*' : origins.length > 0 ? origins : false

/**
 * CORS for the API: answers preflights (before authentication, as browsers send them without the key)
 * and marks answers readable by the allowed origins. Request headers asked for in a preflight are
 * allowed; no credentials, since there are no cookies to send. Undefined when no origin is allowed.
 */
export function corsMiddleware(origins: CorsOrigins): CorsHandler | undefined {
  const origin = corsOrigin(origins)
  if (origin === false) return undefined
  return cors({ origin, exposedHeaders: EXPOSED_HEADERS, maxAge: 600 })
}

/**
 * The cors package's handler works on Node's own request and response, so the request listener uses it
 * too, before Express. For anything but a preflight it only sets headers and calls `next` at once.
 */
export type CorsHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void
