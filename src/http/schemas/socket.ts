import { z } from 'zod'
import { PRIORITY_VALUES, STATUS_VALUES } from '../../domain/transitions'
import { FilterTextSchema, StatusIdSchema } from './common'

// The Socket.IO protocol's requests (namespace `/status`), parsed by src/realtime/socket-server.ts and
// described in the OpenAPI document's components.

export const SubscribeSchema = z.strictObject({
  status_ids: z.array(StatusIdSchema).min(1).max(1000).optional(),
  filter: z
    .strictObject({
      status: z.array(z.enum(STATUS_VALUES)).optional(),
      priority: z.array(z.enum(PRIORITY_VALUES)).optional(),
      // As the listing's `kind` (no NUL, which PostgreSQL refuses to compare with).
      kind: FilterTextSchema(64).optional(),
      /** SPEC §12: the children of this status. */
      parent_id: StatusIdSchema.optional(),
      /** SPEC §11: statuses whose heartbeat has lapsed, or that are past their deadline or start-by. */
      stalled: z.literal(true).optional(),
      overdue: z.literal(true).optional(),
    })
    .optional(),
  since_seq: z.number().int().min(0).optional(),
  /** How many statuses a filter snapshot carries (the first page, newest first). */
  snapshot_limit: z.number().int().min(1).max(500).default(100),
})

export const UnsubscribeSchema = z.strictObject({ subscription_id: z.string().min(1) })
