import { Router } from 'express'
import type { StatusFilterService } from '../../services/status-filter-service'
import type { StatusService } from '../../services/status-service'
import { requireScope, tenantOf } from '../auth'
import { EventsQuerySchema } from '../schemas/status'

export function eventRoutes({ statuses, filters }: { statuses: StatusService; filters: StatusFilterService }) {
  const router = Router()

  router.get('/events', requireScope('status:read'), async (req, res) => {
    const { after_seq, limit } = EventsQuerySchema.parse(req.query)
    res.json(await statuses.events(tenantOf(req), { afterSeq: after_seq, limit }))
  })

  router.get('/stats', requireScope('status:read'), async (req, res) => {
    res.json(await filters.stats(tenantOf(req)))
  })

  return router
}
