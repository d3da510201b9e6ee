import { Router } from 'express'
import type { StatusEventManager } from '../../services/status-event-manager'
import type { StatusFilterService } from '../../services/status-filter-service'
import type { StatusService } from '../../services/status-service'
import type { StatusUpdater } from '../../services/status-updater'
import { eventsExpired } from '../../errors'
import { requireScope, tenantOf } from '../auth'
import { EventsQuerySchema, FilterQuerySchema } from '../schemas/status'

export interface EventRouteDeps {
  statuses: StatusService
  filters: StatusFilterService
  updater: StatusUpdater
  events: StatusEventManager
}

export function eventRoutes({ statuses, filters, updater, events }: EventRouteDeps) {
  const router = Router()

  router.get('/events', requireScope('status:read'), async (req, res) => {
    const { after_seq, limit } = EventsQuerySchema.parse(req.query)
    const tenantId = tenantOf(req)
    const page = await statuses.events(tenantId, { afterSeq: after_seq, limit })
    // Checked after the read: a purge that ran before it shows up here; one after it took nothing read.
    if (await events.expired(tenantId, after_seq)) throw eventsExpired(after_seq)
    res.json(page)
  })

  router.get('/stats', requireScope('status:read'), async (req, res) => {
    // Counts are the tenant's; the queue, event rate and subscribers are this instance's.
    const counts = await filters.stats(tenantOf(req), FilterQuerySchema.parse(req.query))
    const feed = await events.stats()
    res.json({
      ...counts,
      queue_depth: updater.depth(),
      events_per_second: feed.events_per_second,
      subscribers: feed.subscribers,
      updater: updater.stats(),
      events: feed,
    })
  })

  return router
}
