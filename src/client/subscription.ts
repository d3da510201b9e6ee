import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client'
import { problemFromSocket, StatusTrackerError } from './errors'
import { backoffDelay, type Backoff } from './retry'
import type { StatusEvent, StatusRecord, SubscribeAck, SubscribeRequest } from './types'

/** What a subscription selects (`status_ids` or `filter`) and the size of its snapshot, without a start. */
export type SubscriptionSelector = Omit<SubscribeRequest, 'since_seq'>

export type SocketIoOptions = Partial<ManagerOptions & SocketOptions>

export interface SubscriptionHandlers {
  /**
   * The statuses selected as of `seq`: when the subscription starts without `since_seq`, and again after
   * each `change()`.
   */
  onSnapshot?(statuses: StatusRecord[], seq: number): void
  /** Each event once, in `seq` order, across reconnections. */
  onEvent?(event: StatusEvent): void
  /**
   * The events since the last one seen are no longer all stored (or `since_seq` was never valid): this
   * is a fresh snapshot as of `seq`, and events after it follow. Rebuild what was derived from events.
   */
  onResync?(statuses: StatusRecord[], seq: number, reason: string): void
  /** The connection dropped; the subscription reconnects and resumes by itself. */
  onDisconnect?(reason: string): void
  /** Subscribed again after a reconnection: `replayed` events after `since_seq` follow, then live ones. */
  onResume?(info: { since_seq: number; replayed: number }): void
  /** A refusal that ends the subscription (a bad key, a bad request). */
  onError?(error: StatusTrackerError): void
}

export interface Subscription {
  /** The first acknowledgement; rejects if the subscription is refused or closed before it starts. */
  readonly ready: Promise<SubscribeAck>
  /** The `seq` up to which every selected event has been handed over (undefined before the first ack). */
  readonly lastSeq: number | undefined
  readonly closed: boolean
  /** The underlying Socket.IO socket (one per subscription). */
  readonly socket: Socket
  /**
   * Selects something else from now on, over the same connection: the server's subscription is
   * replaced by one for `selector`, which starts afresh with a snapshot (`onSnapshot`); events of the
   * old selection that were still on their way are dropped. Resolves with the new acknowledgement.
   */
  change(selector: SubscriptionSelector): Promise<SubscribeAck>
  /** Unsubscribes and disconnects; safe to call twice. */
  close(): Promise<void>
}

export interface SubscriptionOptions {
  /** Where Socket.IO connects: the service's origin plus `/status`. */
  url: string
  apiKey?: string
  socket?: SocketIoOptions
  /** How long to wait for the server to acknowledge a subscribe before connecting again. */
  ackTimeoutMs?: number
  /** Waits between attempts when the server fails to subscribe (`internal-error`). */
  backoff?: Backoff
}

type Answer =
  | SubscribeAck
  | { ok: false; error: { code: string; message: string; errors?: { path: string; message: string }[] } }

/**
 * A subscription that survives reconnections. It remembers the last `seq` handed over; after any
 * reconnection it subscribes again with `since_seq` set to it, so the server replays what was missed,
 * and drops anything at or below it, so nothing arrives twice. When the server can no longer replay
 * (`resync-required`) it takes a fresh snapshot and says so through `onResync`.
 */
export function openSubscription(
  request: SubscribeRequest,
  handlers: SubscriptionHandlers,
  options: SubscriptionOptions,
): Subscription {
  const { since_seq: startSeq, ...initial } = request
  let selector: SubscriptionSelector = initial
  const ackTimeoutMs = options.ackTimeoutMs ?? 20_000
  const backoff = options.backoff ?? { baseMs: 200, maxMs: 5_000 }

  let lastSeq: number | undefined = startSeq
  let subscriptionId: string | undefined
  let started = false
  let closed = false
  let closing: Promise<void> | undefined
  // Each subscribe attempt has a number; answers and timers of an earlier attempt are ignored.
  let attempt = 0
  let failures = 0
  let resyncReason: string | undefined
  // Events that arrive before the current subscribe is acknowledged wait here.
  let held: StatusEvent[] | null = null
  // After a resumed subscribe: the replayed events still to come, all at or below `upTo`.
  let replay: { remaining: number; upTo: number } | null = null
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  // The current attempt's subscribe is not answered yet; `restart`: its selector has changed meanwhile.
  let awaiting = false
  let restart = false
  // The promises of change() calls, settled by the next acknowledgement (or refusal, or close).
  let changes: { resolve: (ack: SubscribeAck) => void; reject: (err: unknown) => void }[] = []
  const settleChanges = (settle: (change: (typeof changes)[number]) => void) => {
    const waiting = changes
    changes = []
    waiting.forEach(settle)
  }

  let resolveReady!: (ack: SubscribeAck) => void
  let rejectReady!: (err: unknown) => void
  const ready = new Promise<SubscribeAck>((resolve, reject) => {
    resolveReady = resolve
    rejectReady = reject
  })
  ready.catch(() => undefined)

  const socket = io(options.url, {
    forceNew: true,
    ...(options.apiKey !== undefined && { auth: { token: options.apiKey } }),
    ...options.socket,
  })

  function fail(error: StatusTrackerError): void {
    if (closed) return
    closed = true
    clearTimeout(retryTimer)
    rejectReady(error)
    settleChanges((change) => change.reject(error))
    socket.disconnect()
    handlers.onError?.(error)
  }

  /** Once every replayed event is in, everything up to the ack's `seq` has been seen. */
  function settleReplay(): void {
    if (replay && replay.remaining <= 0) {
      lastSeq = Math.max(lastSeq ?? 0, replay.upTo)
      replay = null
    }
  }

  function deliver(event: StatusEvent): void {
    if (closed) return
    if (held) {
      held.push(event)
      return
    }
    if (lastSeq !== undefined && event.seq <= lastSeq) return
    if (replay && event.seq <= replay.upTo) replay.remaining -= 1
    lastSeq = event.seq
    settleReplay()
    handlers.onEvent?.(event)
  }

  async function subscribe(): Promise<void> {
    const mine = ++attempt
    clearTimeout(retryTimer)
    held = []
    replay = null
    subscriptionId = undefined
    const sinceSeq = lastSeq
    awaiting = true
    let answer: Answer
    try {
      answer = (await socket.timeout(ackTimeoutMs).emitWithAck('subscribe', {
        ...selector,
        ...(sinceSeq !== undefined && { since_seq: sinceSeq }),
      })) as Answer
    } catch {
      // No answer in time. If the connection is still up, start over on a fresh one.
      if (mine !== attempt || closed || !socket.connected) return
      socket.disconnect().connect()
      return
    }
    if (mine !== attempt || closed) return
    awaiting = false
    if (restart) {
      // Asked for the old selector: drop it (and whatever it sent) and ask for the new one.
      restart = false
      if (answer.ok) socket.emit('unsubscribe', { subscription_id: answer.subscription_id })
      return subscribe()
    }

    if (!answer.ok) {
      const { code } = answer.error
      if (code === 'resync-required') {
        resyncReason ??= answer.error.message
        lastSeq = undefined
        return subscribe()
      }
      if (code === 'internal-error') {
        failures += 1
        retryTimer = setTimeout(
          () => {
            if (mine === attempt && socket.connected && !closed) void subscribe()
          },
          backoffDelay(failures, backoff),
        )
        return
      }
      return fail(new StatusTrackerError(problemFromSocket(answer.error)))
    }

    failures = 0
    subscriptionId = answer.subscription_id
    const waiting = held
    held = null
    if (answer.snapshot) {
      lastSeq = answer.seq
      if (resyncReason !== undefined) {
        const reason = resyncReason
        resyncReason = undefined
        handlers.onResync?.(answer.snapshot, answer.seq, reason)
      } else {
        handlers.onSnapshot?.(answer.snapshot, answer.seq)
      }
    } else {
      replay = { remaining: answer.replayed, upTo: answer.seq }
      settleReplay()
      if (started) handlers.onResume?.({ since_seq: sinceSeq!, replayed: answer.replayed })
    }
    if (!started) {
      started = true
      resolveReady(answer)
    }
    settleChanges((change) => change.resolve(answer))
    for (const event of waiting) deliver(event)
  }

  socket.on('connect', () => void subscribe())
  socket.on('status.event', deliver)
  // SPEC §11: events went by that this subscription does not select; its resume point moves past them.
  socket.on('status.bookmark', (mark: { subscription_id?: string; seq?: number }) => {
    if (closed || held || mark?.subscription_id !== subscriptionId || typeof mark.seq !== 'number') return
    // Sent after the replay and every event before it, so it settles the replay too.
    if (replay && mark.seq >= replay.upTo) replay = null
    lastSeq = Math.max(lastSeq ?? 0, mark.seq)
  })
  socket.on('status.resync', (info: { reason?: string }) => {
    resyncReason = info?.reason ?? 'resync required'
  })
  // A slow consumer is told so and then disconnected by the server; the reconnection resumes from lastSeq.
  socket.on('status.overflow', () => undefined)
  socket.on('disconnect', (reason) => {
    attempt += 1
    clearTimeout(retryTimer)
    // The server dropped this connection's subscriptions; the next one subscribes with the current selector.
    awaiting = false
    restart = false
    if (closed) return
    handlers.onDisconnect?.(reason)
    // Socket.IO does not reconnect by itself when the server hung up (overflow, shutdown): we do.
    if (reason === 'io server disconnect') socket.connect()
  })
  socket.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
    // While `active`, Socket.IO keeps trying (the server is down or restarting). A refusal at the
    // handshake (bad key, missing scope) is final.
    if (socket.active) return
    fail(
      new StatusTrackerError(problemFromSocket(err.data ?? { code: 'connect-failed', message: err.message })),
    )
  })

  return {
    ready,
    get lastSeq() {
      return lastSeq
    },
    get closed() {
      return closed
    },
    socket,
    change(next) {
      if (closed) {
        const refused = Promise.reject(new Error('the subscription is closed'))
        refused.catch(() => undefined)
        return refused
      }
      const { since_seq: _start, ...rest } = next as SubscribeRequest
      selector = rest
      lastSeq = undefined
      resyncReason = undefined
      const acked = new Promise<SubscribeAck>((resolve, reject) => changes.push({ resolve, reject }))
      acked.catch(() => undefined)
      if (awaiting) restart = true
      else if (socket.connected) {
        if (subscriptionId !== undefined) socket.emit('unsubscribe', { subscription_id: subscriptionId })
        void subscribe()
      }
      // Not connected: the next connection subscribes with the new selector.
      return acked
    },
    close() {
      return (closing ??= (async () => {
        const wasClosed = closed
        closed = true
        attempt += 1
        clearTimeout(retryTimer)
        rejectReady(new Error('the subscription was closed'))
        settleChanges((change) => change.reject(new Error('the subscription was closed')))
        if (!wasClosed && socket.connected && subscriptionId !== undefined) {
          await socket
            .timeout(2_000)
            .emitWithAck('unsubscribe', { subscription_id: subscriptionId })
            .catch(() => undefined)
        }
        socket.disconnect()
      })())
    },
  }
}

export type SubscriptionMessage =
  | { type: 'snapshot'; statuses: StatusRecord[]; seq: number }
  | { type: 'event'; event: StatusEvent }
  | { type: 'resync'; statuses: StatusRecord[]; seq: number; reason: string }

/** A subscription read with `for await`: messages queue until read; the loop ends on `close()`. */
export interface Watch extends AsyncIterableIterator<SubscriptionMessage> {
  readonly ready: Promise<SubscribeAck>
  readonly lastSeq: number | undefined
  readonly socket: Socket
  close(): Promise<void>
}

export function openWatch(request: SubscribeRequest, options: SubscriptionOptions): Watch {
  const queue: SubscriptionMessage[] = []
  let waiter: {
    resolve: (r: IteratorResult<SubscriptionMessage>) => void
    reject: (e: unknown) => void
  } | null = null
  let failure: unknown
  let ended = false

  const push = (message: SubscriptionMessage) => {
    if (waiter) {
      const w = waiter
      waiter = null
      w.resolve({ value: message, done: false })
    } else queue.push(message)
  }
  const end = (error?: unknown) => {
    ended = true
    if (error !== undefined) failure = error
    if (!waiter) return
    const w = waiter
    waiter = null
    if (error !== undefined) w.reject(error)
    else w.resolve({ value: undefined, done: true })
  }

  const subscription = openSubscription(
    request,
    {
      onSnapshot: (statuses, seq) => push({ type: 'snapshot', statuses, seq }),
      onEvent: (event) => push({ type: 'event', event }),
      onResync: (statuses, seq, reason) => push({ type: 'resync', statuses, seq, reason }),
      onError: (error) => end(error),
    },
    options,
  )

  const watch: Watch = {
    ready: subscription.ready,
    get lastSeq() {
      return subscription.lastSeq
    },
    socket: subscription.socket,
    async close() {
      await subscription.close()
      end()
    },
    next() {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false })
      if (ended) {
        if (failure !== undefined) {
          const error = failure
          failure = undefined
          return Promise.reject(error)
        }
        return Promise.resolve({ value: undefined, done: true })
      }
      return new Promise((resolve, reject) => (waiter = { resolve, reject }))
    },
    async return() {
      // Through the property, so a wrapper installed on `close` (the client's bookkeeping) runs too.
      await watch.close()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return watch
    },
  }
  return watch
}
