import { Router } from 'express'
import type { StatusEventManager } from '../../services/status-event-manager'
import type { StatusFilterService } from '../../services/status-filter-service'
import type { StatusUpdater } from '../../services/status-updater'
import { filtersNote, json, Problems } from '../answers'
import { tenantOf } from '../auth'
import { mount, operations } from '../operation'
import { StatsSchema } from '../schemas/responses'
import { FilterQuerySchema } from '../schemas/status'

export const statsOperations = operations({
  getStats: {
    method: 'get',
    path: '/api/stats',
    scope: 'status:read',
    tag: 'Events',
    summary: "Counts by status and priority, and this instance's queue, event rate and subscribers",
    description: `Counts follow the same filters as listing. ${filtersNote}`,
    query: FilterQuerySchema,
    responses: {
      '200': { description: 'Counts and gauges', content: json(StatsSchema) },
      '422': Problems.searchTooBroad,
    },
  },
})

/** `GET /api/stats`: the tenant's counts (listing's filters apply) and this instance's figures. Mounted at `/api`. */
export function statsRoutes({
  filters,
  updater,
  eventManager,
}: {
  filters: StatusFilterService
  updater: StatusUpdater
  eventManager: StatusEventManager
}) {
  return mount(Router(), '/api', statsOperations, {
    getStats: async ({ query }, req, res) => {
      // Counts are the tenant's; the queue, event rate and subscribers are this instance's.
      const counts = await filters.stats(tenantOf(req), query)
      // Each value once: the three the contract names at the top, the rest under their part.
      const { queue_depth, ...writer } = updater.stats()
      const { events_per_second, subscribers, ...feed } = await eventManager.stats()
      res.json({ ...counts, queue_depth, events_per_second, subscribers, updater: writer, events: feed })
    },
  })
}
