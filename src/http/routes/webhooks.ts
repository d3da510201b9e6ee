import { Router } from 'express'
import type { WebhookService } from '../../services/webhook-service'
import { requireScope, tenantOf } from '../auth'
import {
  DeliveryParamsSchema,
  DeliveryQuerySchema,
  WebhookCreateSchema,
  WebhookParamsSchema,
} from '../schemas/webhooks'

/** An admin manages the webhooks of its own tenant; another tenant's webhook is 404. */
export function webhookRoutes({ webhooks }: { webhooks: WebhookService }) {
  const router = Router()
  router.use(requireScope('admin'))

  router.post('/', async (req, res) => {
    const created = await webhooks.create(tenantOf(req), WebhookCreateSchema.parse(req.body))
    res.status(201).location(`/api/webhooks/${created.id}`).json(created)
  })

  router.get('/', async (req, res) => {
    res.json({ items: await webhooks.list(tenantOf(req)) })
  })

  router.get('/:id', async (req, res) => {
    const { id } = WebhookParamsSchema.parse(req.params)
    res.json(await webhooks.get(tenantOf(req), id))
  })

  router.delete('/:id', async (req, res) => {
    const { id } = WebhookParamsSchema.parse(req.params)
    await webhooks.remove(tenantOf(req), id)
    res.status(204).end()
  })

  router.get('/:id/deliveries', async (req, res) => {
    const { id } = WebhookParamsSchema.parse(req.params)
    const query = DeliveryQuerySchema.parse(req.query)
    res.json(await webhooks.deliveries(tenantOf(req), id, query))
  })

  router.post('/:id/deliveries/:delivery_id/retry', async (req, res) => {
    const { id, delivery_id } = DeliveryParamsSchema.parse(req.params)
    res.status(202).json(await webhooks.retry(tenantOf(req), id, delivery_id))
  })

  return router
}
