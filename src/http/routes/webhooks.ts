import { Router } from 'express'
import type { WebhookService } from '../../services/webhook-service'
import { json, LocationHeader, problem, Problems } from '../answers'
import { tenantOf } from '../auth'
import { mount, operations } from '../operation'
import {
  DeliveryPageSchema,
  DeliverySchema,
  WebhookCreatedSchema,
  WebhookListSchema,
  WebhookSchema,
} from '../schemas/responses'
import {
  DeliveryParamsSchema,
  DeliveryQuerySchema,
  WebhookCreateSchema,
  WebhookParamsSchema,
} from '../schemas/webhooks'

/** An admin manages the webhooks of its own tenant; another tenant's webhook is 404. */
export const webhookOperations = operations({
  listWebhooks: {
    method: 'get',
    path: '/api/webhooks',
    scope: 'admin',
    tag: 'Webhooks',
    summary: "The tenant's webhooks",
    responses: { '200': { description: 'Webhooks, oldest first', content: json(WebhookListSchema) } },
  },
  createWebhook: {
    method: 'post',
    path: '/api/webhooks',
    scope: 'admin',
    tag: 'Webhooks',
    summary: "Register a URL for signed POSTs of the tenant's events",
    description:
      'See the `statusEvent` webhook for what is sent. The secret (given or generated) is shown only in this answer.',
    body: WebhookCreateSchema,
    responses: {
      '201': { description: 'Created', headers: LocationHeader, content: json(WebhookCreatedSchema) },
    },
  },
  getWebhook: {
    method: 'get',
    path: '/api/webhooks/:id',
    scope: 'admin',
    tag: 'Webhooks',
    summary: 'Read one webhook',
    params: WebhookParamsSchema,
    responses: {
      '200': { description: 'The webhook', content: json(WebhookSchema) },
      '404': Problems.webhookNotFound,
    },
  },
  deleteWebhook: {
    method: 'delete',
    path: '/api/webhooks/:id',
    scope: 'admin',
    tag: 'Webhooks',
    summary: 'Delete a webhook and its deliveries',
    params: WebhookParamsSchema,
    responses: { '204': { description: 'Deleted' }, '404': Problems.webhookNotFound },
  },
  listDeliveries: {
    method: 'get',
    path: '/api/webhooks/:id/deliveries',
    scope: 'admin',
    tag: 'Webhooks',
    summary: "A webhook's deliveries, newest first",
    params: WebhookParamsSchema,
    query: DeliveryQuerySchema,
    responses: {
      '200': { description: 'One page of deliveries', content: json(DeliveryPageSchema) },
      '404': Problems.webhookNotFound,
    },
  },
  retryDelivery: {
    method: 'post',
    path: '/api/webhooks/:id/deliveries/:delivery_id/retry',
    scope: 'admin',
    tag: 'Webhooks',
    summary: 'Send a dead or delivered delivery once more',
    params: DeliveryParamsSchema,
    responses: {
      '202': { description: 'Pending again, due now', content: json(DeliverySchema) },
      '404': Problems.webhookNotFound,
      '409': problem('DeliveryPending', 409, ['delivery-pending']),
    },
  },
})

/** Mounted at `/api`. */
export function webhookRoutes({ webhooks }: { webhooks: WebhookService }) {
  return mount(Router(), '/api', webhookOperations, {
    createWebhook: async ({ body }, req, res) => {
      const created = await webhooks.create(tenantOf(req), body)
      res.status(201).location(`/api/webhooks/${created.id}`).json(created)
    },

    listWebhooks: async (_input, req, res) => {
      res.json({ items: await webhooks.list(tenantOf(req)) })
    },

    getWebhook: async ({ params: { id } }, req, res) => {
      res.json(await webhooks.get(tenantOf(req), id))
    },

    deleteWebhook: async ({ params: { id } }, req, res) => {
      await webhooks.remove(tenantOf(req), id)
      res.status(204).end()
    },

    listDeliveries: async ({ params: { id }, query }, req, res) => {
      res.json(await webhooks.deliveries(tenantOf(req), id, query))
    },

    retryDelivery: async ({ params: { id, delivery_id } }, req, res) => {
      res.status(202).json(await webhooks.retry(tenantOf(req), id, delivery_id))
    },
  })
}
