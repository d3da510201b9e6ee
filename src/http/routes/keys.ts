import { Router } from 'express'
import { notFound } from '../../errors'
import type { ApiKeyService } from '../../services/api-key-service'
import { json, LocationHeader, problem } from '../answers'
import { tenantOf } from '../auth'
import { mount, operations } from '../operation'
import { ApiKeyCreatedSchema, ApiKeyListSchema } from '../schemas/responses'
import { KeyCreateSchema, KeyParamsSchema } from '../schemas/keys'

/** An admin manages the keys of its own tenant. */
export const keyOperations = operations({
  listKeys: {
    method: 'get',
    path: '/api/keys',
    scope: 'admin',
    tag: 'Keys',
    summary: "The tenant's API keys, revoked ones included",
    responses: { '200': { description: 'Keys, oldest first', content: json(ApiKeyListSchema) } },
  },
  createKey: {
    method: 'post',
    path: '/api/keys',
    scope: 'admin',
    tag: 'Keys',
    summary: "Create an API key in the caller's tenant",
    body: KeyCreateSchema,
    responses: {
      '201': {
        description: 'Created; `key` is shown only here',
        headers: LocationHeader,
        content: json(ApiKeyCreatedSchema),
      },
    },
  },
  revokeKey: {
    method: 'delete',
    path: '/api/keys/:id',
    scope: 'admin',
    tag: 'Keys',
    summary: 'Revoke an API key',
    params: KeyParamsSchema,
    responses: {
      '204': { description: 'Revoked' },
      '404': problem('KeyNotFound', 404, ['not-found']),
    },
  },
})

/** Mounted at `/api`. */
export function keyRoutes({ apiKeys }: { apiKeys: ApiKeyService }) {
  return mount(Router(), '/api', keyOperations, {
    createKey: async ({ body: { scopes } }, req, res) => {
      const { key, secret } = await apiKeys.create(tenantOf(req), [...new Set(scopes)])
      res
        .status(201)
        .location(`/api/keys/${key.id}`)
        .json({ ...key, key: secret })
    },

    listKeys: async (_input, req, res) => {
      res.json({ items: await apiKeys.list(tenantOf(req)) })
    },

    revokeKey: async ({ params: { id } }, req, res) => {
      if (!(await apiKeys.revoke(id, tenantOf(req)))) throw notFound(`API key ${id}`)
      res.status(204).end()
    },
  })
}
