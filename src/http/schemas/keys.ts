import { z } from 'zod'
import { SCOPES } from '../../services/api-key-service'

export const KeyCreateSchema = z.strictObject({ scopes: z.array(z.enum(SCOPES)).min(1) })
export const KeyParamsSchema = z.strictObject({
  id: z.string().regex(/^key_[0-9a-f]{16}$/, 'must be a key id'),
})
