// Every network call of the dashboard, REST and Socket.IO, goes through this module, so the rest of the
// page depends only on the small interface below and never on fetch or socket.io-client directly.
import { io, type Socket } from 'socket.io-client'

export const STATUS_VALUES = [
  'pending',
  'starting',
  'processing',
  'retry_pending',
  'completed',
  'failed',
  'cancelled',
] as const
export type StatusValue = (typeof STATUS_VALUES)[number]
export const PRIORITY_VALUES = ['low', 'normal', 'high', 'critical'] as const
export type PriorityValue = (typeof PRIORITY_VALUES)[number]
export const SORT_KEYS = ['updated_at', 'created_at', 'priority', 'progress_percentage', 'status_id'] as const
export type SortKey = (typeof SORT_KEYS)[number]

export interface ErrorInfo {
  message: string
  code?: string
  details?: Record<string, unknown>
}

/** A status as the API sends it (times are RFC 3339 strings on the wire). */
export interface StatusRecord {
  status_id: string
  kind: string | null
  resource_id: string | null
  status: StatusValue
  priority: PriorityValue
  progress_percentage: number
  message: string | null
  steps_completed: number | null
  steps_total: number | null
  error_info: ErrorInfo | null
  retry_count: number
  max_retries: number
  metadata: Record<string, unknown>
  tags: string[]
  version: number
  created_at: string
  updated_at: string
  started_at: string | null
  completed_at: string | null
  estimated_completion_at: string | null
}

export type EventType =
  | 'status.created'
  | 'status.updated'
  | 'status.progress'
  | 'status.error'
  | 'status.cancelled'
  | 'status.deleted'

export interface StatusEvent {
  event_id: string
  seq: number
  type: EventType
  status_id: string
  version: number
  occurred_at: string
  changes: Record<string, [unknown, unknown]>
  status: StatusRecord
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
  has_more: boolean
  total?: number
}

export interface Stats {
  total: number
  by_status: Record<StatusValue, number>
  by_priority: Record<PriorityValue, number>
  subscribers: number
  events_per_second: number
}

/** The listing filters of the API (SPEC §2), as the dashboard uses them. */
export interface StatusQuery {
  status?: StatusValue[]
  priority?: PriorityValue[]
  kind?: string
  tag?: string[]
  q?: string
  updated_after?: string
  updated_before?: string
  sort?: string
  limit?: number
  cursor?: string
}

/** What a realtime subscription can filter on (a subset of the listing filters). */
export interface LiveFilter {
  status?: StatusValue[]
  priority?: PriorityValue[]
  kind?: string
}

/** A refused request: the problem+json's `code` and `detail`, or `network` when nothing answered. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 0,
  ) {
    super(message)
  }
}

export type ConnectionState = 'connecting' | 'live' | 'offline' | 'refused'

export interface LiveHandlers {
  /** Each event once, in `seq` order. */
  event(event: StatusEvent): void
  /** The feed started afresh (first subscription, new filter, or a resync): reload what is shown. */
  reset(): void
  connection(state: ConnectionState, error?: ApiError): void
}

export interface LiveWatch {
  setFilter(filter: LiveFilter): void
  close(): void
}

export interface DashboardApi {
  listStatuses(query: StatusQuery): Promise<Page<StatusRecord>>
  getStatus(id: string): Promise<StatusRecord>
  history(id: string, cursor?: string): Promise<Page<StatusEvent>>
  stats(): Promise<Stats>
  /** Live events for `filter`; resubscribes after a reconnect from the last `seq` seen, without a gap. */
  watch(filter: LiveFilter, handlers: LiveHandlers): LiveWatch
}

function queryString(query: object): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query) as [string, unknown][]) {
    if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) continue
    params.set(name, Array.isArray(value) ? value.join(',') : String(value))
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

async function problemOf(response: Response): Promise<ApiError> {
  const body = (await response.json().catch(() => ({}))) as { code?: string; detail?: string }
  return new ApiError(
    body.code ?? `http-${response.status}`,
    body.detail ?? `${response.status} ${response.statusText}`,
    response.status,
  )
}

interface SubscribeAck {
  ok: boolean
  subscription_id?: string
  seq?: number
  error?: { code: string; message: string }
}

/** The API at `baseUrl` (same origin by default), called with `apiKey`. */
export function createApi(apiKey: string, baseUrl = ''): DashboardApi {
  async function get<T>(path: string): Promise<T> {
    let response: Response
    try {
      response = await fetch(`${baseUrl}${path}`, {
        headers: { Authorization: `Bearer ${apiKey}`, Accept: 'application/json' },
      })
    } catch {
      throw new ApiError('network', 'The service could not be reached')
    }
    if (!response.ok) throw await problemOf(response)
    return (await response.json()) as T
  }

  function watch(initial: LiveFilter, handlers: LiveHandlers): LiveWatch {
    let filter = initial
    let subscriptionId: string | undefined
    // The last seq seen, and whether the next subscription may resume from it (false for a new filter).
    let lastSeq: number | undefined
    let resume = false
    // Bumped by every new subscription, so the answer to an older one is dropped.
    let generation = 0
    const socket: Socket = io(`${baseUrl}/status`, { auth: { token: apiKey } })

    async function subscribe(): Promise<void> {
      const mine = ++generation
      const sinceSeq = resume ? lastSeq : undefined
      const ack = (await socket.emitWithAck('subscribe', {
        filter,
        ...(sinceSeq === undefined ? { snapshot_limit: 1 } : { since_seq: sinceSeq }),
      })) as SubscribeAck
      if (mine !== generation) {
        if (ack.ok) socket.emit('unsubscribe', { subscription_id: ack.subscription_id })
        return
      }
      // resync-required comes with a status.resync event, which starts afresh.
      if (!ack.ok) {
        if (ack.error?.code !== 'resync-required') {
          const error = new ApiError(ack.error?.code ?? 'subscribe-failed', ack.error?.message ?? '')
          handlers.connection('offline', error)
        }
        return
      }
      subscriptionId = ack.subscription_id
      if (sinceSeq === undefined) {
        // A fresh start: events after ack.seq follow, and the page reloads what it shows.
        lastSeq = ack.seq
        resume = true
        handlers.reset()
      }
      handlers.connection('live')
    }

    socket.on('connect', () => void subscribe())
    socket.on('disconnect', () => {
      subscriptionId = undefined
      handlers.connection(socket.active ? 'connecting' : 'offline')
    })
    socket.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
      // Refused at the handshake (a bad or revoked key): Socket.IO does not retry that by itself.
      if (err.data?.code) {
        handlers.connection('refused', new ApiError(err.data.code, err.data.message ?? err.message, 401))
      } else handlers.connection(socket.active ? 'connecting' : 'offline')
    })
    socket.on('status.event', (event: StatusEvent) => {
      if (lastSeq !== undefined && event.seq <= lastSeq) return
      lastSeq = event.seq
      handlers.event(event)
    })
    socket.on('status.resync', () => {
      resume = false
      void subscribe()
    })
    handlers.connection('connecting')

    return {
      setFilter(next) {
        filter = next
        resume = false
        if (subscriptionId) socket.emit('unsubscribe', { subscription_id: subscriptionId })
        subscriptionId = undefined
        if (socket.connected) void subscribe()
      },
      close() {
        generation++
        socket.disconnect()
      },
    }
  }

  return {
    listStatuses: (query) => get(`/api/status${queryString({ ...query, include_total: true })}`),
    getStatus: (id) => get(`/api/status/${encodeURIComponent(id)}`),
    history: (id, cursor) =>
      get(`/api/status/${encodeURIComponent(id)}/history${queryString({ cursor, limit: 100 })}`),
    stats: () => get('/api/stats'),
    watch,
  }
}
