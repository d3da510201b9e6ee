import pino, { type DestinationStream, type Logger } from 'pino'

export const REDACTED = '[redacted]'

/**
 * Where a secret can stand in a log line: the credentials of a request (either header an API key may
 * come in, and cookies), and any field named like a secret in an object that is logged (a webhook's
 * secret, a token). Keys are stored hashed; a log line must not undo that.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'password',
  '*.password',
]

// Query parameters that would carry a credential if a client put one there (no route takes one).
const SECRET_PARAM = /token|key|secret|signature|password|auth/i

/** The URL as logged: the value of every query parameter named like a credential is replaced. */
export function redactQuery(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const name = eq < 0 ? pair : pair.slice(0, eq)
      let decoded = name
      try {
        decoded = decodeURIComponent(name)
      } catch {
        // A name that is not valid percent-encoding is logged as sent; it is matched as sent too.
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=${REDACTED}` : pair
    })
  return `${url.slice(0, q)}?${params.join('&')}`
}

/** The access log's request serializer (applied to pino's standard one): URL and query with credentials masked. */
export function serializeRequest(req: { url?: unknown; query?: unknown }) {
  const query =
    typeof req.query === 'object' && req.query !== null
      ? Object.fromEntries(
          Object.entries(req.query).map(([name, value]) => [
            name,
            SECRET_PARAM.test(name) ? REDACTED : value,
          ]),
        )
      : req.query
  return { ...req, url: typeof req.url === 'string' ? redactQuery(req.url) : req.url, query }
}

function prettyAvailable(): boolean {
  try {
    require.resolve('pino-pretty')
    return true
  } catch {
    return false
  }
}

/**
 * JSON logs, with secrets redacted; human-friendly ones only when a person is watching a terminal.
 * `destination` is for tests that read what was logged.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: REDACTED } }
  if (destination) return pino(options, destination)
  const pretty = process.stdout.isTTY && prettyAvailable()
  return pino({
    ...options,
    ...(pretty && { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }),
  })
}
