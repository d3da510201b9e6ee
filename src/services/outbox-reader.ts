import { LRUCache } from 'lru-cache'
import type { EventRepository } from '../db/event-repository'
import type { StatusEvent } from '../domain/status-record'

export interface OutboxReaderOptions {
  eventRepository: Pick<EventRepository, 'heads' | 'after'>
  /** Events in one page. */
  batchSize: number
  /** Pages kept for sinks that are behind the first reader of a page. */
  cachedPages?: number
}

/**
 * What the relay's sinks read the outbox through, so that each tenant's new events are read once and the
 * same batch handed to every sink at that point, not once per sink. A pass (`newPass`, on every wake-up
 * and poll) reads the tenants' heads once for all sinks; a page of a tenant's events after a seq is read
 * once and kept for the sinks that ask for it next (a slower sink, a retry) while it is among the last
 * `cachedPages`. Pages are immutable once read (an empty one is not kept): a page read when fewer events existed is short, and a
 * sink that gets it continues from its last event. The arrays are shared, so sinks must not change them.
 */
export function createOutboxReader({ eventRepository, batchSize, cachedPages = 64 }: OutboxReaderOptions) {
  let heads: Promise<Map<string, number>> | undefined
  const pages = new LRUCache<string, Promise<StatusEvent[]>>({ max: cachedPages })

  return {
    batchSize,

    /** New events may have been committed: the next `heads()` reads them again. */
    newPass(): void {
      heads = undefined
    },

    /** Each tenant's last committed seq, read once a pass. A failed read is not kept. */
    heads(): Promise<Map<string, number>> {
      heads ??= eventRepository.heads().catch((err: unknown) => {
        heads = undefined
        throw err
      })
      return heads
    },

    /** Up to `batchSize` of the tenant's events after `afterSeq`, in seq order. A failed read is not kept. */
    page(tenantId: string, afterSeq: number): Promise<StatusEvent[]> {
      const key = `${afterSeq}:${tenantId}`
      let page = pages.get(key)
      if (!page) {
        page = eventRepository.after(tenantId, afterSeq, batchSize)
        pages.set(key, page)
        // An empty page (nothing after it, or purged) says nothing lasting: it is asked again next time.
        page.then(
          (read) => read.length === 0 && pages.delete(key),
          () => pages.delete(key),
        )
      }
      return page
    },
  }
}

export type OutboxReader = ReturnType<typeof createOutboxReader>
