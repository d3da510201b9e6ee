import { z } from 'zod'
import { EVENT_TYPES } from '../../domain/status-record'
import { DELIVERY_STATES } from '../../domain/webhook'
import { CursorSchema, LimitSchema, single } from './common'

const isHttpUrl = (value: string) => {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
  } catch {
    return false
  }
}

const IdSchema = (what: string) =>
  z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `must be a ${what} id`)

export const WebhookCreateSchema = z.strictObject({
  url: z.string().max(2048).refine(isHttpUrl, 'must be an absolute http:// or https:// URL'),
  events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
  secret: z
    .string()
    .regex(/^[\x21-\x7e]{16,256}$/, 'must be 16–256 printable ASCII characters without spaces')
    .optional(),
})
export type WebhookCreateBody = z.infer<typeof WebhookCreateSchema>

export const WebhookParamsSchema = z.strictObject({ id: IdSchema('webhook') })

export const DeliveryParamsSchema = z.strictObject({
  id: IdSchema('webhook'),
  delivery_id: IdSchema('delivery'),
})

export const DeliveryQuerySchema = z.strictObject({
  state: single(z.enum(DELIVERY_STATES)).optional(),
  limit: single(LimitSchema(500, 50)),
  cursor: single(CursorSchema).optional(),
})
