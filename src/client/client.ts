import { problemFromSocket, StatusTrackerError } from './errors'
import {
  createTransport,
  type ApiCall,
  type RequestOptions,
  type TransportOptions,
  type WriteOptions,
} from './http'
import { readSse } from './sse'
import {
  openSubscription,
  openWatch,
  type SocketIoOptions,
  type Subscription,
  type SubscriptionHandlers,
  type Watch,
} from './subscription'
import type {
  ApiKey,
  BatchAccepted,
  BatchCommitted,
  BatchItemInput,
  CreatedApiKey,
  CreatedWebhook,
  Delivery,
  DeliveryQuery,
  ErrorReportInput,
  EventsPage,
  HeartbeatInput,
  LogLine,
  LogLineInput,
  EventsQuery,
  Health,
  KeyCreateInput,
  ListQuery,
  Page,
  PageQuery,
  Stats,
  StatusChangeEvent,
  StatusEvent,
  StatusFilter,
  StatusPage,
  StatusRecord,
  StatusCreateInput,
  StatusUpdateInput,
  SubscribeRequest,
  UpdatedStatus,
  WaitForOptions,
  Webhook,
  WebhookCreateInput,
} from './types'

const TERMINAL: readonly string[] = ['completed', 'failed', 'cancelled']

export interface ClientOptions extends TransportOptions {
  /** Passed to Socket.IO for subscriptions (e.g. `{ transports: ['websocket'] }`, `path`). */
  socket?: SocketIoOptions
  /** How long a subscribe may wait for the server's acknowledgement before reconnecting. Default 20 s. */
  subscribeAckTimeoutMs?: number
}

export interface UpdateOptions extends WriteOptions {
  /** Applied only if the status is still at this version (`If-Match`); else `412 version-mismatch`. */
  expectedVersion?: number
}

export interface StreamOptions {
  /** Start after this `seq` (replay, then live); without it, live events from now on. */
  since_seq?: number
  /** Only these statuses' events; bookmarks move the resume point past the others (SPEC §11). */
  status_ids?: string[]
  signal?: AbortSignal
  /** Called each time the stream is open (the answer's headers arrived), before any event of it. */
  onOpen?(info: { status: number }): void
}

const statusPath = (id: string, rest = '') => `/api/status/${encodeURIComponent(id)}${rest}`
const webhookPath = (id: string, rest = '') => `/api/webhooks/${encodeURIComponent(id)}${rest}`

/** Every page's items in turn, following `next_cursor` until `has_more` is false. */
async function* allPages<T>(
  fetchPage: (
    cursor: string | undefined,
  ) => Promise<{ items: T[]; next_cursor: string | null; has_more: boolean }>,
): AsyncGenerator<T> {
  let cursor: string | undefined
  for (;;) {
    const page = await fetchPage(cursor)
    yield* page.items
    if (!page.has_more || page.next_cursor === null) return
    cursor = page.next_cursor
  }
}

/** Where Socket.IO connects: the namespace `/status` at the service's origin (or this page's). */
function socketUrl(baseUrl: string): string {
  try {
    return `${new URL(baseUrl).origin}/status`
  } catch {
    return '/status'
  }
}

/**
 * A client of the Status Tracker API for Node (20+) and browsers: typed calls for every route, retries
 * that never apply a write twice, and Socket.IO subscriptions that resume without a gap or a duplicate.
 */
export function createStatusTrackerClient(options: ClientOptions) {
  const http = createTransport(options)
  const subscriptions = new Set<{ close(): Promise<void> }>()
  const realtime = {
    url: socketUrl(http.baseUrl),
    ...((options.apiKey ?? options.token) !== undefined && { apiKey: options.apiKey ?? options.token }),
    ...(options.socket && { socket: options.socket }),
    ...(options.subscribeAckTimeoutMs !== undefined && { ackTimeoutMs: options.subscribeAckTimeoutMs }),
    backoff: { baseMs: options.backoff?.baseMs ?? 200, maxMs: options.backoff?.maxMs ?? 5_000 },
  }
  const track = <T extends { close(): Promise<void> }>(handle: T): T => {
    subscriptions.add(handle)
    const close = handle.close.bind(handle)
    handle.close = () => {
      subscriptions.delete(handle)
      return close()
    }
    return handle
  }

  const statuses = {
    /** `POST /api/status`; retried under one generated `Idempotency-Key` unless you give one. */
    create: (body: StatusCreateInput = {}, opts?: WriteOptions): ApiCall<StatusRecord> =>
      http.call({ method: 'POST', path: '/api/status', body, idempotent: true }, opts),

    get: (id: string, opts?: RequestOptions): ApiCall<StatusRecord> =>
      http.call({ method: 'GET', path: statusPath(id) }, opts),

    /** The record if its version is no longer `version`, else null (`If-None-Match`, answered 304). */
    getIfChanged: (id: string, version: number, opts?: RequestOptions): ApiCall<StatusRecord | null> =>
      http.call(
        {
          method: 'GET',
          path: statusPath(id),
          headers: { 'If-None-Match': `"${version}"` },
          notModified: true,
        },
        opts,
      ),

    /** `PUT /api/status/:id`: a transition and/or progress; `expectedVersion` sends `If-Match`. */
    update: (id: string, body: StatusUpdateInput, opts?: UpdateOptions): ApiCall<UpdatedStatus> =>
      http.call(
        {
          method: 'PUT',
          path: statusPath(id),
          body,
          idempotent: true,
          ...(opts?.expectedVersion !== undefined && {
            headers: { 'If-Match': `"${opts.expectedVersion}"` },
          }),
        },
        opts,
      ),

    /**
     * `POST /api/status/:id/heartbeat`: the work is alive (SPEC §11). Bare, it changes neither the
     * version nor the feed; with `progress_percentage` or `message` it is an update as well. Safe to retry.
     */
    heartbeat: (
      id: string,
      body: HeartbeatInput = {},
      opts?: RequestOptions,
    ): ApiCall<{ status_id: string; last_heartbeat_at: string; version: number }> =>
      http.call({ method: 'POST', path: statusPath(id, '/heartbeat'), body, retryable: true }, opts),

    /**
     * Waits until the status is terminal (`until: 'terminal'`) or its version is above `afterVersion`
     * (`until: 'change'`, default: the version when asked), by long polls of at most 30 s each
     * (`GET /api/status/:id?wait=…`, woken by the feed, so by a write through any instance). Resolves with
     * the record; after `timeoutMs` (default: no limit) it rejects with `wait-timeout`.
     */
    async waitFor(
      id: string,
      { until, afterVersion, timeoutMs, signal }: WaitForOptions,
    ): Promise<StatusRecord> {
      const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs
      let after = afterVersion
      for (;;) {
        const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000))
        const query = {
          wait: until,
          timeout_s: Math.min(30, left),
          ...(until === 'change' && after !== undefined && { after_version: after }),
        }
        const record = await http.call<StatusRecord>(
          { method: 'GET', path: statusPath(id), query },
          { ...(signal && { signal }), timeoutMs: (query.timeout_s + 10) * 1000 },
        )
        after ??= record.version
        const holds = until === 'terminal' ? TERMINAL.includes(record.status) : record.version > after
        if (holds) return record
        if (Date.now() >= deadline)
          throw new StatusTrackerError(
            problemFromSocket({
              code: 'wait-timeout',
              message: `Status ${id} did not ${until === 'terminal' ? 'finish' : 'change'} in time`,
            }),
          )
      }
    },

    /** `POST /api/status/:id/errors`: counts a retry or fails the status. */
    recordError: (id: string, body: ErrorReportInput, opts?: WriteOptions): ApiCall<StatusRecord> =>
      http.call({ method: 'POST', path: statusPath(id, '/errors'), body, idempotent: true }, opts),

    cancel: (id: string, opts?: WriteOptions): ApiCall<StatusRecord> =>
      http.call({ method: 'POST', path: statusPath(id, '/cancel'), idempotent: true }, opts),

    /**
     * `DELETE /api/status/:id`. A retry after a lost answer may find it gone: `404 status-not-found`. A
     * status with children is `409 has-children` unless `cascade`, which deletes its descendants too.
     */
    delete: (id: string, opts?: RequestOptions & { cascade?: boolean }): ApiCall<void> =>
      http.call(
        { method: 'DELETE', path: statusPath(id), query: opts?.cascade ? { cascade: 'true' } : undefined },
        opts,
      ),

    /** One page of `GET /api/status`; pass `next_cursor` back as `cursor` for the next. */
    list: (query: ListQuery = {}, opts?: RequestOptions): ApiCall<StatusPage> =>
      http.call({ method: 'GET', path: '/api/status', query }, opts),

    /** Every matching status, page after page (`limit` sets the page size). */
    listAll: (query: Omit<ListQuery, 'cursor'> = {}, opts?: RequestOptions): AsyncGenerator<StatusRecord> =>
      allPages((cursor) => statuses.list({ ...query, cursor }, opts)),

    /** One page of a status's events, oldest first. */
    /** One page of a status's change events (its log lines are `logs.list`). */
    history: (id: string, query: PageQuery = {}, opts?: RequestOptions): ApiCall<Page<StatusChangeEvent>> =>
      http.call({ method: 'GET', path: statusPath(id, '/history'), query }, opts),

    historyAll: (
      id: string,
      query: Omit<PageQuery, 'cursor'> = {},
      opts?: RequestOptions,
    ): AsyncGenerator<StatusChangeEvent> =>
      allPages((cursor) => statuses.history(id, { ...query, cursor }, opts)),

    /**
     * `POST /api/status/batch`: 202 once queued, or with `wait: true` 200 once committed, with a result
     * per item. The route takes no `Idempotency-Key`, so it is retried only when the server refused it.
     */
    batch: ((updates: BatchItemInput[], opts?: RequestOptions & { wait?: boolean }) =>
      http.call(
        {
          method: 'POST',
          path: '/api/status/batch',
          body: { updates },
          ...(opts?.wait !== undefined && { query: { wait: opts.wait } }),
        },
        opts,
      )) as {
      (updates: BatchItemInput[], opts: RequestOptions & { wait: true }): ApiCall<BatchCommitted>
      (updates: BatchItemInput[], opts?: RequestOptions & { wait?: false }): ApiCall<BatchAccepted>
    },

    /** `POST /api/status/cancel`: cancels every live status the filter selects (at least one filter). */
    cancelMatching: (filter: StatusFilter, opts?: RequestOptions): ApiCall<{ cancelled: number }> =>
      http.call({ method: 'POST', path: '/api/status/cancel', query: filter }, opts),
  }

  const events = {
    /** One page of the tenant's feed in `seq` order, after `after_seq`. */
    list: (query: EventsQuery = {}, opts?: RequestOptions): ApiCall<EventsPage> =>
      http.call({ method: 'GET', path: '/api/events', query }, opts),

    /** Every event after `after_seq`, page after page, up to the head at the time of the last page. */
    async *all(query: EventsQuery = {}, opts?: RequestOptions): AsyncGenerator<StatusEvent> {
      let after = Number(query.after_seq ?? 0)
      for (;;) {
        const page = await events.list({ ...query, after_seq: after }, opts)
        yield* page.items
        if (!page.has_more) return
        after = page.next_after_seq
      }
    },

    /**
     * `GET /api/events/stream` (Server-Sent Events): every event of the tenant, replayed after
     * `since_seq` and then live. When the server drops a slow reader it reconnects from the last event;
     * it ends when the server ends the stream; `410 resync-required` when `since_seq` cannot be replayed.
     */
    async *stream({
      since_seq,
      status_ids,
      signal,
      onOpen,
    }: StreamOptions = {}): AsyncGenerator<StatusEvent> {
      let last = since_seq
      for (;;) {
        const controller = new AbortController()
        const stop = () => controller.abort(signal?.reason)
        signal?.addEventListener('abort', stop, { once: true })
        let overflowed = false
        try {
          const response = await http.open(
            {
              method: 'GET',
              path: '/api/events/stream',
              query: {
                ...(last !== undefined && { since_seq: last }),
                ...(status_ids && { status_ids: status_ids.join(',') }),
              },
            },
            { signal: controller.signal },
          )
          onOpen?.({ status: response.status })
          if (!response.body) return
          for await (const message of readSse(response.body)) {
            if (message.event === 'status.event') {
              const event = JSON.parse(message.data) as StatusEvent
              if (last !== undefined && event.seq <= last) continue
              last = event.seq
              yield event
            } else if (message.event === 'bookmark') {
              last = Math.max(last ?? 0, Number(message.id))
            } else if (message.event === 'status.overflow') {
              overflowed = true
            } else if (message.event === 'status.resync') {
              throw new StatusTrackerError(
                problemFromSocket({
                  code: 'resync-required',
                  message: `Events after seq ${last} are not all stored; read the statuses afresh`,
                }),
              )
            }
          }
        } finally {
          signal?.removeEventListener('abort', stop)
          controller.abort()
        }
        if (!overflowed) return
      }
    },
  }

  const keys = {
    /** `POST /api/keys` (admin): a key of the caller's tenant; its secret, `key`, is shown only here. */
    create: (body: KeyCreateInput, opts?: RequestOptions): ApiCall<CreatedApiKey> =>
      http.call({ method: 'POST', path: '/api/keys', body }, opts),
    list: (opts?: RequestOptions): ApiCall<{ items: ApiKey[] }> =>
      http.call({ method: 'GET', path: '/api/keys' }, opts),
    revoke: (id: string, opts?: RequestOptions): ApiCall<void> =>
      http.call({ method: 'DELETE', path: `/api/keys/${encodeURIComponent(id)}` }, opts),
  }

  const logs = {
    /** `POST /api/status/:id/logs`: 1–100 lines, stored (and a `status.log` event) when it resolves. */
    append: (id: string, lines: LogLineInput[], opts?: RequestOptions): ApiCall<{ accepted: number }> =>
      http.call({ method: 'POST', path: statusPath(id, '/logs'), body: { lines } }, opts),
    /** One page of its kept lines, oldest first. */
    list: (id: string, query: PageQuery = {}, opts?: RequestOptions): ApiCall<Page<LogLine>> =>
      http.call({ method: 'GET', path: statusPath(id, '/logs'), query }, opts),
    /** Every kept line, page after page. */
    listAll: (
      id: string,
      query: Omit<PageQuery, 'cursor'> = {},
      opts?: RequestOptions,
    ): AsyncGenerator<LogLine> => allPages((cursor) => logs.list(id, { ...query, cursor }, opts)),
  }

  const tokens = {
    /**
     * `POST /api/tokens`: a read-only token for these statuses, or for a parent and its descendants
     * (`parent_id`), to hand to a browser (SPEC §13); pass it as `token` to a client there. Expires after
     * `ttl_s` (default 900 s).
     */
    create: (
      body: { status_ids?: string[]; parent_id?: string; ttl_s?: number },
      opts?: RequestOptions,
    ): ApiCall<{ token: string; expires_at: string }> =>
      http.call({ method: 'POST', path: '/api/tokens', body }, opts),
  }

  const webhooks = {
    /** `POST /api/webhooks` (admin); the answer's `secret` is shown only here. */
    create: (body: WebhookCreateInput, opts?: RequestOptions): ApiCall<CreatedWebhook> =>
      http.call({ method: 'POST', path: '/api/webhooks', body }, opts),
    list: (opts?: RequestOptions): ApiCall<{ items: Webhook[] }> =>
      http.call({ method: 'GET', path: '/api/webhooks' }, opts),
    get: (id: string, opts?: RequestOptions): ApiCall<Webhook> =>
      http.call({ method: 'GET', path: webhookPath(id) }, opts),
    delete: (id: string, opts?: RequestOptions): ApiCall<void> =>
      http.call({ method: 'DELETE', path: webhookPath(id) }, opts),
    /** One page of a webhook's deliveries, newest first, optionally of one `state`. */
    deliveries: (id: string, query: DeliveryQuery = {}, opts?: RequestOptions): ApiCall<Page<Delivery>> =>
      http.call({ method: 'GET', path: webhookPath(id, '/deliveries'), query }, opts),
    allDeliveries: (
      id: string,
      query: Omit<DeliveryQuery, 'cursor'> = {},
      opts?: RequestOptions,
    ): AsyncGenerator<Delivery> => allPages((cursor) => webhooks.deliveries(id, { ...query, cursor }, opts)),
    /** Sends a dead (or delivered) delivery once more; `409 delivery-pending` while it is pending. */
    retryDelivery: (id: string, deliveryId: string, opts?: RequestOptions): ApiCall<Delivery> =>
      http.call(
        { method: 'POST', path: webhookPath(id, `/deliveries/${encodeURIComponent(deliveryId)}/retry`) },
        opts,
      ),
  }

  return {
    statuses,
    events,
    keys,
    logs,
    tokens,
    webhooks,

    /** `GET /api/stats`: counts (optionally filtered), queue depth, event rate, subscribers. */
    stats: (filter: StatusFilter = {}, opts?: RequestOptions): ApiCall<Stats> =>
      http.call({ method: 'GET', path: '/api/stats', query: filter }, opts),

    /** `GET /health`: the process is up. */
    health: (opts?: RequestOptions): ApiCall<Health> => http.call({ method: 'GET', path: '/health' }, opts),

    /** `GET /ready`: the database answers; `503 not-ready` (thrown) when it does not. Not retried by default. */
    ready: (opts?: RequestOptions): ApiCall<Health> =>
      http.call({ method: 'GET', path: '/ready' }, { retries: 0, ...opts }),

    /**
     * A realtime subscription over Socket.IO (its own connection): a snapshot (or a replay after
     * `since_seq`), then each event once in `seq` order, resumed without a gap after reconnections.
     */
    subscribe(request: SubscribeRequest = {}, handlers: SubscriptionHandlers = {}): Subscription {
      return track(openSubscription(request, handlers, realtime))
    },

    /** The same subscription read with `for await`: snapshot, resync and event messages in order. */
    watch(request: SubscribeRequest = {}): Watch {
      return track(openWatch(request, realtime))
    },

    /** Closes every subscription this client opened. */
    async close(): Promise<void> {
      await Promise.all([...subscriptions].map((s) => s.close()))
    },
  }
}

export type StatusTrackerClient = ReturnType<typeof createStatusTrackerClient>
