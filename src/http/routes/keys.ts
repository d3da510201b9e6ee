import { Router } from 'express'
import { z } from 'zod'
import { notFound } from '../../errors'
import { SCOPES, type ApiKeyService } from '../../services/api-key-service'
import { requireScope, tenantOf } from '../auth'

export const KeyCreateSchema = z.strictObject({ scopes: z.array(z.enum(SCOPES)).min(1) })
const KeyParamsSchema = z.strictObject({ id: z.string().regex(/^key_[0-9a-f]{16}$/, 'must be a key id') })

/** An admin manages the keys of its own tenant. */
export function keyRoutes({ apiKeys }: { apiKeys: ApiKeyService }) {
  const router = Router()
  router.use(requireScope('admin'))

  router.post('/', async (req, res) => {
    const { scopes } = KeyCreateSchema.parse(req.body)
    const { key, secret } = await apiKeys.create(tenantOf(req), [...new Set(scopes)])
    res
      .status(201)
      .location(`/api/keys/${key.id}`)
      .json({ ...key, key: secret })
  })

  router.get('/', async (req, res) => {
    res.json({ items: await apiKeys.list(tenantOf(req)) })
  })

  router.delete('/:id', async (req, res) => {
    const { id } = KeyParamsSchema.parse(req.params)
    if (!(await apiKeys.revoke(id, tenantOf(req)))) throw notFound(`API key ${id}`)
    res.status(204).end()
  })

  return router
}
