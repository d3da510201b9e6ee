import { Router } from 'express'
import type { StatusEventManager } from '../../services/status-event-manager'
import type { StatusFilterService } from '../../services/status-filter-service'
import type { StatusUpdater } from '../../services/status-updater'
import { requireScope, tenantOf } from '../auth'
import { FilterQuerySchema } from '../schemas/status'

/** `GET /api/stats`: the tenant's counts (listing's filters apply) and this instance's figures. */
export function statsRoutes({
  filters,
  updater,
  eventManager,
}: {
  filters: StatusFilterService
  updater: StatusUpdater
  eventManager: StatusEventManager
}) {
  const router = Router()

  router.get('/stats', requireScope('status:read'), async (req, res) => {
    // Counts are the tenant's; the queue, event rate and subscribers are this instance's.
    const counts = await filters.stats(tenantOf(req), FilterQuerySchema.parse(req.query))
    // Each value once: the three the contract names at the top, the rest under their part.
    const { queue_depth, ...writer } = updater.stats()
    const { events_per_second, subscribers, ...feed } = await eventManager.stats()
    res.json({ ...counts, queue_depth, events_per_second, subscribers, updater: writer, events: feed })
  })

  return router
}
