import { Router } from 'express'
import { notFound } from '../../errors'
import type { ApiKeyService } from '../../services/api-key-service'
import { requireScope, tenantOf } from '../auth'
import { KeyCreateSchema, KeyParamsSchema } from '../schemas/keys'

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
