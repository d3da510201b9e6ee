import { randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { v7 as uuidv7 } from 'uuid'
import type { StoredWebhook, WebhookRepository } from '../db/webhook-repository'
import { CHANGE_EVENT_TYPES, type EventType } from '../domain/status-record'
import type { Delivery, DeliveryState, Webhook } from '../domain/webhook'
import { deliveryNotFound, deliveryPending, webhookNotFound } from '../errors'
import type { CursorCodec } from './cursor-codec'
import type { EventSink } from './status-event-manager'
import type { Page } from './status-service'

export interface WebhookServiceDeps {
  webhooks: WebhookRepository
  cursors: CursorCodec
  clock: () => Date
  /** Called after new deliveries were committed, so the dispatcher sends them at once. */
  onEnqueued?: () => void
  /** How long a tenant's webhooks are remembered (a webhook made by another instance is seen after this). */
  cacheTtlMs?: number
}

export interface WebhookCreate {
  url: string
  events?: EventType[]
  secret?: string
}

export interface DeliveryQuery {
  state?: DeliveryState
  limit: number
  cursor?: string
}

const toPublic = ({ id, url, events, created_at }: StoredWebhook): Webhook => ({
  id,
  url,
  events,
  created_at,
})

/**
 * Webhooks of a tenant (SPEC §5), their deliveries, and the `webhooks` sink of the event manager.
 * The sink only enqueues: one delivery row per (webhook, matching event) in one transaction, so it
 * never waits on a receiver; the dispatcher sends them.
 */
export function createWebhookService({
  webhooks,
  cursors,
  clock,
  onEnqueued,
  cacheTtlMs = 5_000,
}: WebhookServiceDeps) {
  const cache = new LRUCache<string, StoredWebhook[]>({ max: 10_000, ttl: cacheTtlMs })
  // Tenants with a webhook being created: until it is committed and the cache forgotten, the sink must
  // not skip their events as unwanted, or the new webhook would miss the first ones after its `from_seq`.
  const creating = new Map<string, number>()

  async function receiversOf(tenantId: string): Promise<StoredWebhook[]> {
    if (creating.has(tenantId)) return webhooks.list(tenantId)
    let hooks = cache.get(tenantId)
    if (!hooks) {
      hooks = await webhooks.list(tenantId)
      cache.set(tenantId, hooks)
    }
    return hooks
  }

  const sink: EventSink = {
    name: 'webhooks',
    durable: true,
    wants: async (tenantId) => creating.has(tenantId) || (await receiversOf(tenantId)).length > 0,
    async deliver(tenantId, batch) {
      // Read afresh, not from the cache: with several instances the lease holder relaying this batch
      // may not be the one a webhook was just created on, and must not checkpoint past its first events.
      const hooks = await webhooks.list(tenantId)
      const items = hooks.flatMap((hook) =>
        batch
          .filter((event) => event.seq > hook.from_seq && hook.events.includes(event.type))
          .map((event) => ({ webhookId: hook.id, deliveryId: uuidv7(), event })),
      )
      if (items.length === 0) return
      if ((await webhooks.enqueue(tenantId, items, clock())) > 0) onEnqueued?.()
    },
  }

  async function find(tenantId: string, id: string): Promise<StoredWebhook> {
    const hook = await webhooks.get(tenantId, id)
    if (!hook) throw webhookNotFound(id)
    return hook
  }

  return {
    sink,

    /** The secret, given or generated, is returned here and never again. */
    async create(tenantId: string, input: WebhookCreate): Promise<Webhook & { secret: string }> {
      const secret = input.secret ?? `whsec_${randomBytes(24).toString('base64url')}`
      // Every change by default; a status's log lines only when asked for by name (SPEC §14).
      const events = input.events ? [...new Set(input.events)] : [...CHANGE_EVENT_TYPES]
      creating.set(tenantId, (creating.get(tenantId) ?? 0) + 1)
      try {
        const hook = await webhooks.insert({
          id: uuidv7(),
          tenantId,
          url: input.url,
          events,
          secret,
          createdAt: clock(),
        })
        return { ...toPublic(hook), secret }
      } finally {
        cache.delete(tenantId)
        const left = creating.get(tenantId)! - 1
        if (left === 0) creating.delete(tenantId)
        else creating.set(tenantId, left)
      }
    },

    list: async (tenantId: string): Promise<Webhook[]> => (await webhooks.list(tenantId)).map(toPublic),

    get: async (tenantId: string, id: string): Promise<Webhook> => toPublic(await find(tenantId, id)),

    /** Its pending deliveries are deleted with it; one already on the wire still finishes. */
    async remove(tenantId: string, id: string): Promise<void> {
      const removed = await webhooks.remove(tenantId, id)
      cache.delete(tenantId)
      if (!removed) throw webhookNotFound(id)
    },

    /** Newest first, keyset-paged on the delivery id. */
    async deliveries(tenantId: string, webhookId: string, query: DeliveryQuery): Promise<Page<Delivery>> {
      await find(tenantId, webhookId)
      const scope = `deliveries:${webhookId}:${query.state ?? ''}`
      const beforeId = query.cursor === undefined ? undefined : String(cursors.decode(scope, query.cursor)[0])
      const rows = await webhooks.deliveries(tenantId, webhookId, {
        state: query.state,
        beforeId,
        limit: query.limit + 1,
      })
      const items = rows.slice(0, query.limit)
      const has_more = rows.length > query.limit
      const next_cursor = has_more ? cursors.encode(scope, [items[items.length - 1]!.id]) : null
      return { items, next_cursor, has_more }
    },

    /**
     * Sends a dead or delivered delivery once more: it becomes pending, due now, with one attempt
     * allowed (a failure makes it dead again at once). A pending one is already on its way: 409.
     */
    async retry(tenantId: string, webhookId: string, deliveryId: string): Promise<Delivery> {
      await find(tenantId, webhookId)
      const requeued = await webhooks.requeue(tenantId, webhookId, deliveryId, clock())
      const delivery = await webhooks.delivery(tenantId, webhookId, deliveryId)
      if (!delivery) throw deliveryNotFound(deliveryId)
      if (!requeued) throw deliveryPending(deliveryId)
      onEnqueued?.()
      return delivery
    },
  }
}

export type WebhookService = ReturnType<typeof createWebhookService>
