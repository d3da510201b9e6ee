import { z } from 'zod'
import { StatusIdSchema } from './common'

/** SPEC §13: a token names its statuses, or a parent and its descendants (§12), or both. */
export const TokenCreateSchema = z
  .strictObject({
    status_ids: z.array(StatusIdSchema).min(1).max(100).optional(),
    parent_id: StatusIdSchema.optional(),
    ttl_s: z.number().int().min(60).max(86_400).default(900),
  })
  .refine((body) => body.status_ids !== undefined || body.parent_id !== undefined, {
    message: 'status_ids or parent_id is required',
    path: ['status_ids'],
  })

export const TokenCreatedSchema = z
  .object({
    token: z
      .string()
      .meta({ description: 'Send as `Authorization: Bearer <token>`, or `?token=` to the event stream' }),
    expires_at: z.iso.datetime(),
  })
  .meta({ id: 'TokenCreated' })
