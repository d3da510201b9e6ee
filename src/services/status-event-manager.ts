import type { Logger } from 'pino'
import { v7 as uuidv7 } from 'uuid'
import type { Checkpoint, DeadLetterInput, EventRepository } from '../db/event-repository'
import { coalescedTask, type CoalescedTask } from './coalesced-task'
import type { EventSink } from './event-sink'
import { createLiveHub } from './live-hub'
import { createOutboxReader } from './outbox-reader'
import { createSinkLeases, type SinkLeases } from './sink-leases'

export type { EventSink } from './event-sink'
export type { CloseReason, SubscribeOptions, Subscribed } from './live-hub'

export interface EventManagerOptions {
  eventRepository: EventRepository
  logger: Logger
  clock?: () => Date
  /** How often to look for events written by other processes (in-process writes call notify()). */
  pollMs?: number
  batchSize?: number
  maxAttempts?: number
  backoffBaseMs?: number
  /** A subscriber further behind than this many events is told to resync rather than replayed. */
  maxReplay?: number
  /** Events held for a subscriber that is still catching up; past this it is dropped as slow. */
  maxCatchUpBuffer?: number
  /** How long a lease on a durable sink's tenant lasts unrenewed: how soon another instance takes over. */
  leaseMs?: number
  /** Names this instance's leases. */
  owner?: string
  /** SPEC §11: a filtered subscriber hears where the feed is at least this often while events skip it. */
  bookmarkMs?: number
}

interface SinkState {
  sink: EventSink
  cursors: Map<string, number>
  /** Durable sinks' relay leases (null for the others). */
  leases: SinkLeases | null
  attempts: number
  /** Its pump: reads the outbox past its cursors and delivers, one pass at a time. */
  pump: CoalescedTask
  retryTimer: NodeJS.Timeout | null
}

/**
 * Reads committed events from the outbox in `seq` order and fans them out to sinks, each with its own
 * cursor per tenant, so a failing or slow sink never holds up another. They read through one outbox
 * reader (outbox-reader.ts): a pass reads the heads once for all sinks, and sinks at the same point get
 * the same page from one read. A failing delivery is retried
 * with exponential backoff; after `maxAttempts` its events are dead-lettered and the sink moves on.
 * Live subscribers (Socket.IO, SSE) hang off the built-in `live` sink (the live hub, live-hub.ts).
 * Instances sharing a database split durable sinks' work by leases on their checkpoint rows
 * (sink-leases.ts): only the holder relays a tenant to a durable sink, from the checkpoint it took over.
 * The selector of what a subscriber sees is domain logic (src/domain/event-selector.ts).
 */
export function createStatusEventManager(options: EventManagerOptions) {
  const {
    eventRepository,
    logger,
    clock = () => new Date(),
    pollMs = 100,
    batchSize = 500,
    maxAttempts = 5,
    backoffBaseMs = 100,
    maxReplay = 10_000,
    maxCatchUpBuffer = 10_000,
    leaseMs = 30_000,
    owner = uuidv7(),
    bookmarkMs = 10_000,
  } = options

  let pollTimer: NodeJS.Timeout | null = null
  let started = false
  let stopped = false
  let stopping: Promise<void> | undefined
  let wakeScheduled = false
  const delivered = { total: 0, deadLettered: 0 }

  /**
   * True when events after `since` are no longer all stored (retention purged some): a reader resuming
   * there would silently miss them, so it has to start again from a snapshot.
   */
  async function expired(tenantId: string, since: number): Promise<boolean> {
    const oldest = await eventRepository.oldestSeq(tenantId)
    return oldest !== null ? oldest > since + 1 : (await eventRepository.head(tenantId)) > since
  }

  const live = createLiveHub({ eventRepository, batchSize, maxReplay, maxCatchUpBuffer, expired, bookmarkMs })
  const outbox = createOutboxReader({ eventRepository, batchSize })

  const stateOf = (sink: EventSink): SinkState => {
    const state: SinkState = {
      sink,
      cursors: new Map(),
      leases: sink.durable
        ? createSinkLeases(sink.name, { eventRepository, logger, clock, leaseMs, owner })
        : null,
      attempts: 0,
      pump: coalescedTask(() => pumpOnce(state), {
        onError: (err) => logger.error({ err, sink: sink.name }, 'event pump failed'),
        canRun: () => !stopped && !state.retryTimer,
      }),
      retryTimer: null,
    }
    return state
  }
  const sinks: SinkState[] = [stateOf(live.sink)]

  function addSink(sink: EventSink): void {
    if (started) throw new Error('Add sinks before start()')
    sinks.push(stateOf(sink))
  }

  async function deliverTenant(
    state: SinkState,
    tenantId: string,
    head: number,
    stored: (tenantId: string) => Promise<Checkpoint | undefined>,
  ): Promise<boolean> {
    const { sink, cursors } = state
    if (sink.wants && !(await sink.wants(tenantId))) {
      // Nobody to hand them to: they count as delivered, and still in the live event rate.
      const skipped = head - (cursors.get(tenantId) ?? 0)
      delivered.total += skipped
      if (sink === live.sink) live.countSkipped(skipped)
      cursors.set(tenantId, head)
      // Skipped without a checkpoint: relaying this tenant again starts from the stored one.
      state.leases?.drop(tenantId)
      return true
    }
    if (state.leases) {
      const { relay, cursor } = await state.leases.take(tenantId, head, stored)
      if (cursor !== undefined) cursors.set(tenantId, cursor)
      if (!relay) return true
    }
    let cursor = cursors.get(tenantId) ?? 0
    // Stryker disable next-line UpdateOperator: page only decides the yield below
    for (let page = 0; cursor < head; page++) {
      // From the second page on, let sockets flush what the previous page queued.
      // Stryker disable next-line ConditionalExpression,EqualityOperator: yielding more or less often changes when sockets flush, never what a sink gets or in which order
      if (page > 0) await new Promise((resolve) => setImmediate(resolve))
      const batch = await outbox.page(tenantId, cursor)
      if (batch.length === 0) break
      try {
        await sink.deliver(tenantId, batch)
        state.attempts = 0
      } catch (err) {
        state.attempts += 1
        if (state.attempts < maxAttempts) {
          logger.warn(
            { err, sink: sink.name, tenantId, attempt: state.attempts },
            'event delivery failed, will retry',
          )
          return false
        }
        logger.error(
          { err, sink: sink.name, tenantId, events: batch.length },
          'event delivery failed for good, dead-lettering',
        )
        const message = err instanceof Error ? err.message : String(err)
        const letters: DeadLetterInput[] = batch.map((event) => ({
          sink: sink.name,
          tenantId,
          event,
          error: message,
          attempts: state.attempts,
        }))
        await eventRepository.deadLetter(letters, clock())
        delivered.deadLettered += batch.length
        state.attempts = 0
      }
      cursor = batch[batch.length - 1]!.seq
      cursors.set(tenantId, cursor)
      delivered.total += batch.length
      if (state.leases && !(await state.leases.hold(tenantId, cursor))) return true
    }
    return true
  }

  async function pumpOnce(state: SinkState): Promise<void> {
    // A durable sink's stored checkpoints, read at most once a pass, when a lease is to be taken.
    let checkpoints: Promise<Map<string, Checkpoint>> | undefined
    const stored = async (tenantId: string) =>
      (await (checkpoints ??= eventRepository.checkpoints(state.sink.name))).get(tenantId)
    for (const [tenantId, head] of await outbox.heads()) {
      if ((state.cursors.get(tenantId) ?? 0) >= head) continue
      if (!(await deliverTenant(state, tenantId, head, stored))) {
        // Back off this sink only; the others keep going.
        const delay = backoffBaseMs * 2 ** (state.attempts - 1)
        state.retryTimer = setTimeout(() => {
          state.retryTimer = null
          state.pump.run()
        }, delay)
        state.retryTimer.unref()
        return
      }
    }
  }

  /** A pass: every sink's pump runs over the same heads and, where their cursors meet, the same pages. */
  const pumpAll = () => {
    outbox.newPass()
    sinks.forEach((state) => state.pump.run())
  }

  return {
    addSink,
    expired,

    /**
     * Loads checkpoints (durable sinks, which start from the first stored event when they have none) or
     * the current heads (others), then starts delivering.
     */
    async start(): Promise<void> {
      if (started) return
      started = true
      const heads = await eventRepository.heads()
      for (const state of sinks) {
        state.cursors = state.sink.durable
          ? new Map(
              [...(await eventRepository.checkpoints(state.sink.name))].map(([id, row]) => [id, row.lastSeq]),
            )
          : new Map(heads)
      }
      pollTimer = setInterval(pumpAll, pollMs)
      pollTimer.unref()
      pumpAll()
    },

    /** New events were committed: deliver them now rather than at the next poll. */
    notify(): void {
      if (wakeScheduled || !started || stopped) return
      wakeScheduled = true
      setImmediate(() => {
        wakeScheduled = false
        pumpAll()
      })
    },

    subscribe: live.subscribe,

    async stats() {
      let lag = 0
      const heads = await eventRepository.heads()
      for (const state of sinks) {
        // No cursor yet (a tenant new since start, a durable sink without a checkpoint) means "from seq 0".
        for (const [tenantId, head] of heads) lag = Math.max(lag, head - (state.cursors.get(tenantId) ?? 0))
      }
      const leases = sinks.reduce((n, state) => n + (state.leases?.count() ?? 0), 0)
      const { events_per_second, subscribers } = live.stats()
      return {
        events_per_second,
        delivered_total: delivered.total,
        dead_lettered_total: delivered.deadLettered,
        lag,
        subscribers,
        leases,
      }
    },

    /** Ends every live subscription (their transports close them on their side). */
    closeSubscribers: () => live.closeAll(),

    /**
     * Closes subscribers, stops polling, and delivers what was committed before returning: one last
     * pass over every sink that is not backing off. Then gives up its leases, so another instance takes
     * over the durable sinks at once. Idempotent.
     */
    stop(): Promise<void> {
      stopping ??= (async () => {
        stopped = true
        // Never started: there are no cursors to deliver from.
        if (!started) return
        // Stryker disable next-line ConditionalExpression: clearInterval(null) does nothing, and a poll left ticking finds every pump refusing to run once stopped
        if (pollTimer) clearInterval(pollTimer)
        live.closeAll()
        await Promise.all(sinks.map((state) => state.pump.idle()))
        outbox.newPass()
        for (const state of sinks) {
          if (state.retryTimer) clearTimeout(state.retryTimer)
          else
            await pumpOnce(state).catch((err) =>
              logger.error({ err, sink: state.sink.name }, 'final delivery failed'),
            )
        }
        for (const state of sinks) {
          await state.leases
            ?.release()
            .catch((err) => logger.error({ err, sink: state.sink.name }, 'releasing relay leases failed'))
        }
      })()
      return stopping
    },
  }
}

export type StatusEventManager = ReturnType<typeof createStatusEventManager>
