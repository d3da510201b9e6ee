import type { Logger } from 'pino'
import { v7 as uuidv7 } from 'uuid'
import type { Checkpoint, DeadLetterInput, EventRepository } from '../db/event-repository'
import type { StatusEvent } from '../domain/status-record'
import { coalescedTask, type CoalescedTask } from './coalesced-task'

/** Somewhere events go: delivered per tenant in `seq` order, at least once; throwing means "retry". */
export interface EventSink {
  name: string
  /**
   * A durable sink resumes from its stored checkpoint after a restart, and with several instances only
   * the holder of a tenant's lease relays that tenant to it; others start at the head on every instance.
   */
  durable: boolean
  deliver(tenantId: string, events: StatusEvent[]): Promise<void> | void
  /** False when nobody would receive this tenant's events: the sink then skips them unread. */
  wants?(tenantId: string): boolean | Promise<boolean>
}

export type CloseReason = 'unsubscribed' | 'slow-consumer' | 'stopped'

export interface SubscribeOptions<T> {
  /** Where the stream starts: after a known `seq` (replay), at a snapshot, or at the head (live only). */
  from: { sinceSeq: number } | { snapshot: () => Promise<{ seq: number; items: T[] }> } | 'head'
  match: (event: StatusEvent) => boolean
  /** Hands one event to the subscriber; false means its buffer is full. */
  send: (event: StatusEvent) => boolean
  onClose?: (reason: CloseReason) => void
}

export interface Subscribed<T> {
  /** The stream is gone: `since_seq` is older than the stored events, or too far behind to replay. */
  resync: boolean
  /** The snapshot's `seq`, or the last replayed `seq`. */
  seq: number
  snapshot?: T[]
  replayed: number
  /** Sends the replay, then whatever arrived meanwhile, then goes live. Call after acknowledging. */
  start(): void
  close(reason?: CloseReason): void
}

export interface EventManagerOptions {
  events: EventRepository
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
}

interface LiveSubscriber {
  match: (event: StatusEvent) => boolean
  send: (event: StatusEvent) => boolean
  lastSeq: number
  catchingUp: StatusEvent[] | null
  close: (reason: CloseReason) => void
}

interface SinkState {
  sink: EventSink
  cursors: Map<string, number>
  /** Durable sinks: tenants whose lease this instance holds, and until when (epoch ms). */
  leases: Map<string, number>
  attempts: number
  /** Its pump: reads the outbox past its cursors and delivers, one pass at a time. */
  pump: CoalescedTask
  retryTimer: NodeJS.Timeout | null
}

/**
 * Reads committed events from the outbox in `seq` order and fans them out to sinks, each with its own
 * cursor per tenant, so a failing or slow sink never holds up another. A failing delivery is retried
 * with exponential backoff; after `maxAttempts` its events are dead-lettered and the sink moves on.
 * Live subscribers (Socket.IO, SSE) hang off the built-in `live` sink: each replays from the store or
 * takes a snapshot, then continues with live events, with no gap and no duplicate.
 * Instances sharing a database split durable sinks' work by leases on their checkpoint rows: only the
 * holder relays a tenant to a durable sink, and its cursor is the stored checkpoint it took over.
 */
export function createStatusEventManager(options: EventManagerOptions) {
  const {
    events,
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
  } = options

  const subscribers = new Map<string, Set<LiveSubscriber>>()
  let subscriberCount = 0
  let pollTimer: NodeJS.Timeout | null = null
  let started = false
  let stopped = false
  let stopping: Promise<void> | undefined
  let wakeScheduled = false
  const delivered = { total: 0, deadLettered: 0 }
  const rate = createRateMeter(10)

  const liveSink: EventSink = {
    name: 'live',
    durable: false,
    wants: (tenantId) => subscribers.has(tenantId),
    deliver(tenantId, batch) {
      rate.add(batch.length)
      const set = subscribers.get(tenantId)
      if (!set) return
      for (const sub of set) {
        if (sub.catchingUp) {
          sub.catchingUp.push(...batch)
          if (sub.catchingUp.length > maxCatchUpBuffer) sub.close('slow-consumer')
          continue
        }
        forward(sub, batch)
      }
    },
  }

  function forward(sub: LiveSubscriber, batch: StatusEvent[]): void {
    for (const event of batch) {
      if (event.seq <= sub.lastSeq) continue
      sub.lastSeq = event.seq
      if (sub.match(event) && !sub.send(event)) return sub.close('slow-consumer')
    }
  }

  const stateOf = (sink: EventSink): SinkState => {
    const state: SinkState = {
      sink,
      cursors: new Map(),
      leases: new Map(),
      attempts: 0,
      pump: coalescedTask(() => pumpOnce(state), {
        onError: (err) => logger.error({ err, sink: sink.name }, 'event pump failed'),
        canRun: () => !stopped && !state.retryTimer,
      }),
      retryTimer: null,
    }
    return state
  }
  const sinks: SinkState[] = [stateOf(liveSink)]

  function addSink(sink: EventSink): void {
    if (started) throw new Error('Add sinks before start()')
    sinks.push(stateOf(sink))
  }

  /**
   * Whether this instance may relay `tenantId` to a durable sink now: it holds the lease with at least
   * half of it left, or takes it, and then continues from the stored checkpoint (another instance may
   * have advanced it). A tenant leased by another instance is skipped until that lease runs out.
   */
  async function lease(
    state: SinkState,
    tenantId: string,
    head: number,
    stored: (tenantId: string) => Promise<Checkpoint | undefined>,
  ): Promise<boolean> {
    const now = clock()
    if ((state.leases.get(tenantId) ?? 0) - now.getTime() > leaseMs / 2) return true
    state.leases.delete(tenantId)
    // Read first, so instances write only to take a lease that is free.
    const row = await stored(tenantId)
    if (row) {
      const heldElsewhere = row.lockedBy !== owner && row.lockedUntil !== null && row.lockedUntil > now
      if (row.lastSeq >= head || heldElsewhere) {
        state.cursors.set(tenantId, row.lastSeq)
        return false
      }
    }
    const until = new Date(now.getTime() + leaseMs)
    const lastSeq = await events.claimCheckpoint(state.sink.name, tenantId, owner, now, until)
    if (lastSeq === null) return false
    state.leases.set(tenantId, until.getTime())
    state.cursors.set(tenantId, lastSeq)
    return true
  }

  /** Stores a durable sink's progress and renews its lease; false when the lease was lost meanwhile. */
  async function save(state: SinkState, tenantId: string, lastSeq: number): Promise<boolean> {
    const now = clock()
    const until = new Date(now.getTime() + leaseMs)
    if (await events.saveCheckpoint(state.sink.name, tenantId, lastSeq, owner, now, until)) {
      state.leases.set(tenantId, until.getTime())
      return true
    }
    state.leases.delete(tenantId)
    logger.info({ sink: state.sink.name, tenantId }, 'relay lease lost, another instance continues')
    return false
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
      if (sink === liveSink) rate.add(skipped)
      cursors.set(tenantId, head)
      // Skipped without a checkpoint: relaying this tenant again starts from the stored one.
      state.leases.delete(tenantId)
      return true
    }
    if (sink.durable && !(await lease(state, tenantId, head, stored))) return true
    let cursor = cursors.get(tenantId) ?? 0
    for (let page = 0; cursor < head; page++) {
      // From the second page on, let sockets flush what the previous page queued.
      if (page > 0) await new Promise((resolve) => setImmediate(resolve))
      const batch = await events.after(tenantId, cursor, batchSize)
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
        await events.deadLetter(letters, clock())
        delivered.deadLettered += batch.length
        state.attempts = 0
      }
      cursor = batch[batch.length - 1]!.seq
      cursors.set(tenantId, cursor)
      delivered.total += batch.length
      if (sink.durable && !(await save(state, tenantId, cursor))) return true
    }
    return true
  }

  async function pumpOnce(state: SinkState): Promise<void> {
    // A durable sink's stored checkpoints, read at most once a pass, when a lease is to be taken.
    let checkpoints: Promise<Map<string, Checkpoint>> | undefined
    const stored = async (tenantId: string) =>
      (await (checkpoints ??= events.checkpoints(state.sink.name))).get(tenantId)
    for (const [tenantId, head] of await events.heads()) {
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

  const pumpAll = () => sinks.forEach((state) => state.pump.run())

  /**
   * True when events after `since` are no longer all stored (retention purged some): a reader resuming
   * there would silently miss them, so it has to start again from a snapshot.
   */
  async function expired(tenantId: string, since: number): Promise<boolean> {
    const oldest = await events.oldestSeq(tenantId)
    return oldest !== null ? oldest > since + 1 : (await events.head(tenantId)) > since
  }

  /** Ends every live subscription (their transports close them on their side). */
  function closeSubscribers(): void {
    for (const set of [...subscribers.values()]) for (const sub of [...set]) sub.close('stopped')
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
      const heads = await events.heads()
      for (const state of sinks) {
        state.cursors = state.sink.durable
          ? new Map([...(await events.checkpoints(state.sink.name))].map(([id, row]) => [id, row.lastSeq]))
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

    async subscribe<T>(tenantId: string, opts: SubscribeOptions<T>): Promise<Subscribed<T>> {
      let closed = false
      const sub: LiveSubscriber = {
        match: opts.match,
        send: opts.send,
        lastSeq: 0,
        catchingUp: [],
        close: (reason) => {
          if (closed) return
          closed = true
          set.delete(sub)
          subscriberCount -= 1
          if (set.size === 0) subscribers.delete(tenantId)
          opts.onClose?.(reason)
        },
      }
      // Registered before reading anything, so events committed from here on are caught in the buffer.
      const set = subscribers.get(tenantId) ?? new Set<LiveSubscriber>()
      subscribers.set(tenantId, set)
      set.add(sub)
      subscriberCount += 1

      const result = (extra: Partial<Subscribed<T>>): Subscribed<T> => ({
        resync: false,
        seq: sub.lastSeq,
        replayed: 0,
        start: () => {
          if (closed) return
          const buffered = sub.catchingUp ?? []
          sub.catchingUp = null
          forward(sub, buffered)
        },
        close: (reason = 'unsubscribed') => sub.close(reason),
        ...extra,
      })

      if (opts.from === 'head') {
        sub.lastSeq = await events.head(tenantId)
        return result({ seq: sub.lastSeq })
      }
      if ('snapshot' in opts.from) {
        const { seq, items } = await opts.from.snapshot()
        sub.lastSeq = seq
        return result({ seq, snapshot: items })
      }

      const since = opts.from.sinceSeq
      const head = await events.head(tenantId)
      const gone = since > head || head - since > maxReplay || (await expired(tenantId, since))
      if (gone) {
        sub.close('unsubscribed')
        return result({ resync: true, seq: head })
      }
      const replay: StatusEvent[] = []
      let cursor = since
      for (;;) {
        const page = await events.after(tenantId, cursor, batchSize)
        if (page.length === 0) break
        cursor = page[page.length - 1]!.seq
        for (const event of page) if (opts.match(event)) replay.push(event)
      }
      sub.lastSeq = cursor
      return result({
        seq: cursor,
        replayed: replay.length,
        start: () => {
          let next = 0
          // A page at a time, letting the transport flush in between: a replay may be far larger than a
          // subscriber's send buffer. Live events meanwhile wait in the catch-up buffer.
          const sendPage = () => {
            if (closed) return
            for (const end = Math.min(next + batchSize, replay.length); next < end; next++) {
              if (!opts.send(replay[next]!)) return sub.close('slow-consumer')
            }
            if (next < replay.length) return void setImmediate(sendPage)
            const buffered = sub.catchingUp ?? []
            sub.catchingUp = null
            forward(sub, buffered)
          }
          sendPage()
        },
      })
    },

    async stats() {
      let lag = 0
      const heads = await events.heads()
      for (const state of sinks) {
        // No cursor yet (a tenant new since start, a durable sink without a checkpoint) means "from seq 0".
        for (const [tenantId, head] of heads) lag = Math.max(lag, head - (state.cursors.get(tenantId) ?? 0))
      }
      const now = clock().getTime()
      const leases = sinks.reduce(
        (n, state) => n + [...state.leases.values()].filter((t) => t > now).length,
        0,
      )
      return {
        events_per_second: rate.perSecond(),
        delivered_total: delivered.total,
        dead_lettered_total: delivered.deadLettered,
        lag,
        subscribers: subscriberCount,
        leases,
      }
    },

    closeSubscribers,

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
        if (pollTimer) clearInterval(pollTimer)
        closeSubscribers()
        await Promise.all(sinks.map((state) => state.pump.idle()))
        for (const state of sinks) {
          if (state.retryTimer) clearTimeout(state.retryTimer)
          else
            await pumpOnce(state).catch((err) =>
              logger.error({ err, sink: state.sink.name }, 'final delivery failed'),
            )
        }
        for (const state of sinks.filter(({ sink }) => sink.durable)) {
          state.leases.clear()
          await events
            .releaseCheckpoints(state.sink.name, owner)
            .catch((err) => logger.error({ err, sink: state.sink.name }, 'releasing relay leases failed'))
        }
      })()
      return stopping
    },
  }
}

export type StatusEventManager = ReturnType<typeof createStatusEventManager>

/** Events per second over the last `seconds` whole seconds, in constant memory. */
function createRateMeter(seconds: number) {
  const buckets = new Array<number>(seconds).fill(0)
  let current = Math.floor(Date.now() / 1000)
  const advance = () => {
    const now = Math.floor(Date.now() / 1000)
    for (let t = current + 1; t <= Math.min(now, current + seconds); t++) buckets[t % seconds] = 0
    if (now - current > seconds) buckets.fill(0)
    current = now
  }
  return {
    add(n: number) {
      advance()
      buckets[current % seconds]! += n
    },
    perSecond(): number {
      advance()
      const sum = buckets.reduce((a, b) => a + b, 0)
      return Math.round((sum / seconds) * 10) / 10
    },
  }
}
