import type { Logger } from 'pino'
import type { Checkpoint, EventRepository } from '../db/event-repository'

export interface SinkLeaseOptions {
  eventRepository: Pick<EventRepository, 'claimCheckpoint' | 'saveCheckpoint' | 'releaseCheckpoints'>
  logger: Logger
  clock: () => Date
  /** How long a lease lasts unrenewed: how soon another instance takes over. */
  leaseMs: number
  /** Names this instance's leases. */
  owner: string
}

/**
 * One durable sink's relay leases: instances sharing a database split its tenants by leases on their
 * checkpoint rows, so only the holder relays a tenant, from the stored checkpoint it took over.
 */
export function createSinkLeases(sink: string, options: SinkLeaseOptions) {
  const { eventRepository, logger, clock, leaseMs, owner } = options
  /** Tenants whose lease this instance holds, and until when (epoch ms). */
  const held = new Map<string, number>()

  return {
    /**
     * Whether this instance may relay `tenantId` now: it holds the lease with at least half of it left,
     * or takes it. `cursor` is where to continue (the stored checkpoint, which another instance may
     * have advanced) when the row says so. A tenant leased elsewhere is skipped until that lease ends.
     */
    async take(
      tenantId: string,
      head: number,
      stored: (tenantId: string) => Promise<Checkpoint | undefined>,
    ): Promise<{ relay: boolean; cursor?: number }> {
      const now = clock()
      if ((held.get(tenantId) ?? 0) - now.getTime() > leaseMs / 2) return { relay: true }
      held.delete(tenantId)
      // Read first, so instances write only to take a lease that is free.
      const row = await stored(tenantId)
      if (row) {
        const heldElsewhere =
          row.lockedBy !== owner &&
          // Stryker disable next-line ConditionalExpression: with `true`, `null > now` is still false; the null test is for the type checker
          row.lockedUntil !== null &&
          row.lockedUntil > now
        if (row.lastSeq >= head || heldElsewhere) return { relay: false, cursor: row.lastSeq }
      }
      const until = new Date(now.getTime() + leaseMs)
      const lastSeq = await eventRepository.claimCheckpoint(sink, tenantId, owner, now, until)
      if (lastSeq === null) return { relay: false }
      held.set(tenantId, until.getTime())
      return { relay: true, cursor: lastSeq }
    },

    /** Stores the sink's progress and renews the lease; false when the lease was lost meanwhile. */
    async hold(tenantId: string, lastSeq: number): Promise<boolean> {
      const now = clock()
      const until = new Date(now.getTime() + leaseMs)
      if (await eventRepository.saveCheckpoint(sink, tenantId, lastSeq, owner, now, until)) {
        held.set(tenantId, until.getTime())
        return true
      }
      held.delete(tenantId)
      logger.info({ sink, tenantId }, 'relay lease lost, another instance continues')
      return false
    },

    /** Forgets a lease without storing anything: relaying the tenant again starts from the stored row. */
    drop(tenantId: string): void {
      held.delete(tenantId)
    },

    /** Gives up every lease, so another instance takes over at once. */
    async release(): Promise<void> {
      held.clear()
      await eventRepository.releaseCheckpoints(sink, owner)
    },

    /** Leases held and not yet run out. */
    count(): number {
      const now = clock().getTime()
      return [...held.values()].filter((until) => until > now).length
    },
  }
}

export type SinkLeases = ReturnType<typeof createSinkLeases>
