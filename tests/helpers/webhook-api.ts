import { bearer, type TestApp } from './test-app'

import type { Delivery, Webhook } from '../../src/client/types'

/** A webhook as it travels on the wire; `secret` only in the answer that created it. */
export type WebhookJson = Webhook & { secret?: string }
export type DeliveryJson = Delivery

type Query = Record<string, string | number | undefined>

/** The webhook routes as one (admin) key sees them. */
export function webhookApi(t: TestApp, key: string) {
  const auth = bearer(key)
  const at = (id: string, rest = '') => `/api/webhooks/${encodeURIComponent(id)}${rest}`

  const api = {
    create: (body: unknown) =>
      t.request
        .post('/api/webhooks')
        .set(auth)
        .send(body as object),

    /** Creates a webhook; fails the test on anything but 201. */
    async createOk(body: {
      url: string
      events?: string[]
      secret?: string
    }): Promise<Required<WebhookJson>> {
      const res = await api.create(body)
      expect({ status: res.status, body: res.body }).toMatchObject({ status: 201 })
      return res.body as Required<WebhookJson>
    },

    list: () => t.request.get('/api/webhooks').set(auth),
    get: (id: string) => t.request.get(at(id)).set(auth),
    remove: (id: string) => t.request.delete(at(id)).set(auth),
    deliveries: (id: string, query: Query = {}) =>
      t.request.get(at(id, '/deliveries')).query(query).set(auth),

    /** Every delivery of the webhook (in one page), newest first. */
    async allDeliveries(id: string, state?: string): Promise<DeliveryJson[]> {
      const res = await api.deliveries(id, { limit: 500, state })
      expect({ status: res.status, has_more: res.body.has_more }).toEqual({ status: 200, has_more: false })
      return res.body.items as DeliveryJson[]
    },

    retry: (id: string, deliveryId: string) =>
      t.request.post(at(id, `/deliveries/${encodeURIComponent(deliveryId)}/retry`)).set(auth),
  }
  return api
}

export type WebhookApi = ReturnType<typeof webhookApi>
