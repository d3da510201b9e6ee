import { z } from 'zod'
import { StatusIdSchema } from './common'

/** SPEC §13. A token names its statuses; one for a parent and its descendants comes with groups (§12). */
export const TokenCreateSchema = z.strictObject({
  status_ids: z.array(StatusIdSchema).min(1).max(100),
  ttl_s: z.number().int().min(60).max(86_400).default(900),
})

export const TokenCreatedSchema = z
  .object({
    token: z
      .string()
      .meta({ description: 'Send as `Authorization: Bearer <token>`, or `?token=` to the event stream' }),
    expires_at: z.iso.datetime(),
  })
  .meta({ id: 'TokenCreated' })
