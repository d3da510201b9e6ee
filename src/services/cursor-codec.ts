import { createHmac, timingSafeEqual } from 'node:crypto'
import { invalidCursor } from '../errors'

/**
 * Opaque page cursors: base64url(JSON) plus a truncated HMAC, bound to the query they came from
 * (`scope`), so a tampered, foreign or stale-query cursor is refused instead of silently misread.
 */
export function createCursorCodec(secret: string) {
  const sign = (body: string) => createHmac('sha256', secret).update(body).digest('base64url').slice(0, 22)

  return {
    encode(scope: string, position: unknown[]): string {
      const body = Buffer.from(JSON.stringify({ s: scope, p: position })).toString('base64url')
      return `${body}.${sign(body)}`
    },

    decode(scope: string, cursor: string): unknown[] {
      const [body, mac, ...rest] = cursor.split('.')
      if (!body || !mac || rest.length > 0) throw invalidCursor()
      const expected = Buffer.from(sign(body))
      const given = Buffer.from(mac)
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw invalidCursor()
      const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
        s: string
        p: unknown[]
      }
      if (parsed.s !== scope || !Array.isArray(parsed.p)) throw invalidCursor()
      return parsed.p
    },
  }
}

export type CursorCodec = ReturnType<typeof createCursorCodec>
