import { Router } from 'express'
import { z } from 'zod'
import type { StatusEventManager } from '../../services/status-event-manager'
import type { StatusService } from '../../services/status-service'
import { eventsExpired } from '../../errors'
import { json, problem } from '../answers'
import { tenantOf } from '../auth'
import { mount, operations } from '../operation'
import { EventsPageSchema } from '../schemas/responses'
import { EventsQuerySchema, StreamQuerySchema } from '../schemas/status'

export const eventOperations = operations({
  listEvents: {
    method: 'get',
    path: '/api/events',
    scope: 'status:read',
    tag: 'Events',
    summary: "The tenant's event feed in `seq` order, for catch-up consumers",
    query: EventsQuerySchema,
    responses: {
      '200': { description: 'Events after `after_seq`', content: json(EventsPageSchema) },
      '410': problem('EventsExpired', 410, ['events-expired']),
    },
  },
})

/** Declared here for the document; the realtime layer serves it (src/realtime/sse.ts). */
export const streamOperations = operations({
  streamEvents: {
    method: 'get',
    path: '/api/events/stream',
    scope: 'status:read',
    tag: 'Events',
    summary: 'The same feed as Server-Sent Events, replayed then live',
    tokens: true,
    description:
      'Each event is sent as `id: <seq>`, `event: status.event`, `data: <StatusEvent JSON>`. ' +
      'Starts after `Last-Event-ID` (what browsers send on reconnect), else after `since_seq`, else live from now. ' +
      'A comment heartbeat every 15 s; `status.resync` (`{ since_seq, seq }`: the start point is outside the kept events) ' +
      "and `status.overflow` (a slow reader) end the stream. With `status_ids` only those statuses' events are sent, " +
      'and `bookmark` events (`id: <seq>`, `data: { seq }`) tell where the feed has got to while others go by.',
    query: StreamQuerySchema,
    headers: z.object({
      'Last-Event-ID': z
        .string()
        .optional()
        .meta({ description: 'The last `seq` received; wins over `since_seq`' }),
    }),
    responses: {
      '200': {
        description: 'An endless `text/event-stream`',
        content: {
          'text/event-stream': {
            schema: z.string().meta({ description: 'Server-Sent Events whose data is a StatusEvent' }),
          },
        },
      },
    },
  },
})

/** `GET /api/events`: the tenant's feed, page by page. Mounted at `/api`. */
export function eventRoutes({
  statuses,
  eventManager,
}: {
  statuses: StatusService
  eventManager: StatusEventManager
}) {
  return mount(Router(), '/api', eventOperations, {
    listEvents: async ({ query: { after_seq, limit } }, req, res) => {
      const tenantId = tenantOf(req)
      const page = await statuses.feed(tenantId, { afterSeq: after_seq, limit })
      // Checked after the read: a purge that ran before it shows up here; one after it took nothing read.
      if (await eventManager.expired(tenantId, after_seq)) throw eventsExpired(after_seq)
      res.json(page)
    },
  })
}
