import { Router, type Request } from 'express'
import { tenantOf } from '../http/auth'
import { mount } from '../http/operation'
import { streamOperations } from '../http/routes/events'
import { matcherFor } from '../domain/event-selector'
import type { StatusEventManager } from '../services/status-event-manager'
import type { StatusService } from '../services/status-service'
import { followable } from '../services/token-service'

/** `Last-Event-ID` (sent by EventSource on reconnect) wins over `since_seq`; with neither, live from now. */
function startOf(req: Request, sinceSeq: number | undefined): number | undefined {
  const lastEventId = req.get('last-event-id')
  if (lastEventId !== undefined && /^\d+$/.test(lastEventId.trim())) return Number(lastEventId)
  return sinceSeq
}

export interface SseOptions {
  eventManager: StatusEventManager
  /** A browser token's tree (SPEC §13) is read from here. */
  statuses: Pick<StatusService, 'descendantIds'>
  heartbeatMs?: number
  /** Bytes queued for one client before it is dropped as a slow consumer. */
  maxBufferedBytes?: number
}

/** `GET /api/events/stream`: the tenant's feed as Server-Sent Events, replayed then live. Mounted at `/api`. */
export function sseRoutes({
  eventManager,
  statuses,
  heartbeatMs = 15_000,
  maxBufferedBytes = 4 * 1024 * 1024,
}: SseOptions) {
  return mount(Router(), '/api', streamOperations, {
    streamEvents: async ({ query: { since_seq, status_ids: asked } }, req, res) => {
      const tenantId = tenantOf(req)
      // A browser token streams its own statuses only: those it asked for among them, or all of them
      // (a parent's tree as it grows).
      const selector = await followable(req.grant, asked, (root, limit) =>
        statuses.descendantIds(tenantId, root, limit),
      )
      const start = startOf(req, since_seq)
      const write = (chunk: string) => {
        res.write(chunk)
        return res.writableLength < maxBufferedBytes
      }

      const subscription = await eventManager.subscribe(tenantId, {
        from: start === undefined ? 'head' : { sinceSeq: start },
        match: selector.ids || selector.tree ? matcherFor(selector) : () => true,
        send: (event) => write(`id: ${event.seq}\nevent: status.event\ndata: ${JSON.stringify(event)}\n\n`),
        // Its id is the resume point: EventSource sends it back as Last-Event-ID.
        bookmark: (seq) => write(`id: ${seq}\nevent: bookmark\ndata: ${JSON.stringify({ seq })}\n\n`),
        onClose: (reason) => {
          // A resync closes the subscription inside subscribe(), before the stream has begun; it is
          // answered below with a status.resync event, which ending the response here would swallow.
          if (!res.headersSent) return
          if (reason === 'slow-consumer')
            write(`event: status.overflow\ndata: ${JSON.stringify({ reason })}\n\n`)
          res.end()
        },
      })

      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      })
      res.flushHeaders()
      if (subscription.resync) {
        write(
          `event: status.resync\ndata: ${JSON.stringify({ since_seq: start, seq: subscription.seq })}\n\n`,
        )
        res.end()
        return
      }
      write(`retry: 2000\n: subscribed at seq ${subscription.seq}\n\n`)
      const heartbeat = setInterval(() => write(': ping\n\n'), heartbeatMs)
      req.on('close', () => {
        clearInterval(heartbeat)
        subscription.close('unsubscribed')
      })
      subscription.start()
    },
  })
}
