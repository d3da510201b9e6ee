import { Router } from 'express'
import type { StatusEventManager } from '../../services/status-event-manager'
import type { StatusService } from '../../services/status-service'
import { eventsExpired } from '../../errors'
import { requireScope, tenantOf } from '../auth'
import { EventsQuerySchema } from '../schemas/status'

/** `GET /api/events`: the tenant's feed, page by page. */
export function eventRoutes({
  statuses,
  eventManager,
}: {
  statuses: StatusService
  eventManager: StatusEventManager
}) {
  const router = Router()

  router.get('/events', requireScope('status:read'), async (req, res) => {
    const { after_seq, limit } = EventsQuerySchema.parse(req.query)
    const tenantId = tenantOf(req)
    const page = await statuses.feed(tenantId, { afterSeq: after_seq, limit })
    // Checked after the read: a purge that ran before it shows up here; one after it took nothing read.
    if (await eventManager.expired(tenantId, after_seq)) throw eventsExpired(after_seq)
    res.json(page)
  })

  return router
}
