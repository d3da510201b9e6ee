import type { EventRepository } from '../db/event-repository'
import type { StatusEvent } from '../domain/status-record'
import type { EventSink } from './event-sink'

export type CloseReason = 'unsubscribed' | 'slow-consumer' | 'stopped'

export interface SubscribeOptions<T> {
  /** Where the stream starts: after a known `seq` (replay), at a snapshot, or at the head (live only). */
  from: { sinceSeq: number } | { snapshot: () => Promise<{ seq: number; items: T[] }> } | 'head'
  match: (event: StatusEvent) => boolean
  /** Hands one event to the subscriber; false means its buffer is full. */
  send: (event: StatusEvent) => boolean
  /**
   * SPEC §11: where the stream has got to when events went by that did not match, at most once every
   * `bookmarkMs` and no later than that after such an event, so a resume point moves without matches.
   */
  bookmark?: (seq: number) => void
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

interface LiveSubscriber {
  match: (event: StatusEvent) => boolean
  send: (event: StatusEvent) => boolean
  lastSeq: number
  /** Live events that arrived while it was subscribing or replaying; null once it is live. */
  catchingUp: StatusEvent[] | null
  close: (reason: CloseReason) => void
  bookmark?: (seq: number) => void
  /** The last seq it was sent: an event's or a bookmark's. */
  markedSeq: number
  markedAt: number
  bookmarkTimer: NodeJS.Timeout | null
}

export interface LiveHubOptions {
  eventRepository: Pick<EventRepository, 'head' | 'after'>
  batchSize: number
  /** A subscriber further behind than this many events is told to resync rather than replayed. */
  maxReplay: number
  /** Events held for a subscriber that is still catching up; past this it is dropped as slow. */
  maxCatchUpBuffer: number
  /** True when events after `since` are no longer all stored. */
  expired: (tenantId: string, since: number) => Promise<boolean>
  /** The most time between a skipped event and the bookmark that says so (SPEC §11: 10 s). */
  bookmarkMs?: number
}

/**
 * The live subscriptions (Socket.IO, SSE) and the event manager's `live` sink that feeds them. Each
 * subscription starts from a snapshot, a replay from the store or the head, holds the live events that
 * arrive meanwhile, then goes live: no gap and no duplicate. One that cannot keep up is closed.
 */
export function createLiveHub(options: LiveHubOptions) {
  const { eventRepository, batchSize, maxReplay, maxCatchUpBuffer, expired, bookmarkMs = 10_000 } = options
  const subscribers = new Map<string, Set<LiveSubscriber>>()
  let count = 0
  const rate = createRateMeter(10)

  function forward(sub: LiveSubscriber, batch: StatusEvent[]): void {
    for (const event of batch) {
      if (event.seq <= sub.lastSeq) continue
      sub.lastSeq = event.seq
      if (!sub.match(event)) continue
      if (!sub.send(event)) return sub.close('slow-consumer')
      sub.markedSeq = event.seq
    }
    if (sub.bookmark && sub.lastSeq > sub.markedSeq && !sub.bookmarkTimer) {
      const delay = Math.max(0, sub.markedAt + bookmarkMs - Date.now())
      sub.bookmarkTimer = setTimeout(() => {
        sub.bookmarkTimer = null
        if (sub.lastSeq <= sub.markedSeq) return
        sub.markedSeq = sub.lastSeq
        sub.markedAt = Date.now()
        sub.bookmark!(sub.lastSeq)
      }, delay)
      sub.bookmarkTimer.unref()
    }
  }

  /** Sends what arrived while it caught up, then hands it live events directly. */
  function goLive(sub: LiveSubscriber): void {
    const buffered = sub.catchingUp ?? []
    sub.catchingUp = null
    forward(sub, buffered)
  }

  const sink: EventSink = {
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

  async function subscribe<T>(tenantId: string, opts: SubscribeOptions<T>): Promise<Subscribed<T>> {
    let closed = false
    const sub: LiveSubscriber = {
      match: opts.match,
      send: opts.send,
      lastSeq: 0,
      catchingUp: [],
      bookmark: opts.bookmark,
      markedSeq: 0,
      markedAt: Date.now(),
      bookmarkTimer: null,
      close: (reason) => {
        if (closed) return
        closed = true
        if (sub.bookmarkTimer) clearTimeout(sub.bookmarkTimer)
        set.delete(sub)
        count -= 1
        if (set.size === 0) subscribers.delete(tenantId)
        opts.onClose?.(reason)
      },
    }
    // Registered before reading anything, so events committed from here on are caught in the buffer.
    const set = subscribers.get(tenantId) ?? new Set<LiveSubscriber>()
    subscribers.set(tenantId, set)
    set.add(sub)
    count += 1

    const result = (extra: Partial<Subscribed<T>>): Subscribed<T> => ({
      resync: false,
      seq: sub.lastSeq,
      replayed: 0,
      start: () => {
        if (!closed) goLive(sub)
      },
      close: (reason = 'unsubscribed') => sub.close(reason),
      ...extra,
    })

    if (opts.from === 'head') {
      sub.lastSeq = sub.markedSeq = await eventRepository.head(tenantId)
      // Stryker disable next-line ObjectLiteral: result() defaults seq to sub.lastSeq, read after it is set here
      return result({ seq: sub.lastSeq })
    }
    if ('snapshot' in opts.from) {
      const { seq, items } = await opts.from.snapshot()
      sub.lastSeq = sub.markedSeq = seq
      return result({ seq, snapshot: items })
    }

    const since = opts.from.sinceSeq
    const head = await eventRepository.head(tenantId)
    const gone = since > head || head - since > maxReplay || (await expired(tenantId, since))
    if (gone) {
      sub.close('unsubscribed')
      return result({ resync: true, seq: head })
    }
    const replay: StatusEvent[] = []
    let cursor = since
    for (;;) {
      const page = await eventRepository.after(tenantId, cursor, batchSize)
      if (page.length === 0) break
      cursor = page[page.length - 1]!.seq
      for (const event of page) if (opts.match(event)) replay.push(event)
    }
    // The acknowledgement tells the subscriber where the replay ends.
    sub.lastSeq = sub.markedSeq = cursor
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
          goLive(sub)
        }
        sendPage()
      },
    })
  }

  return {
    /** The event manager's built-in sink: it delivers every tenant's new events to the hub. */
    sink,
    subscribe,
    /** Ends every live subscription (their transports close them on their side). */
    closeAll(): void {
      for (const set of [...subscribers.values()]) for (const sub of [...set]) sub.close('stopped')
    },
    /** Events skipped unread because nobody was subscribed still count in the live rate. */
    countSkipped: (n: number) => rate.add(n),
    stats: () => ({ events_per_second: rate.perSecond(), subscribers: count }),
  }
}

export type LiveHub = ReturnType<typeof createLiveHub>

/** Events per second over the last `seconds` whole seconds, in constant memory. */
function createRateMeter(seconds: number) {
  const buckets = new Array<number>(seconds).fill(0)
  // Stryker disable next-line ArithmeticOperator: every bucket starts at zero, so whatever second this names, the first advance() only clears zeros
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
