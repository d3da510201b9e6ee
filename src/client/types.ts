// Every import here is `import type`: the server's modules are read for their types and never bundled.
import type { z } from 'zod'
import type { ApiKeyRow } from '../db/key-repository'
import type * as Domain from '../domain/status-record'
import type * as Hooks from '../domain/webhook'
import type { PriorityValue, StatusValue } from '../domain/transitions'
import type { KeyCreateSchema } from '../http/schemas/keys'
import type { PageQuerySchema } from '../http/schemas/common'
import type {
  BatchItemSchema,
  ErrorReportSchema,
  EventsQuerySchema,
  FilterQuerySchema,
  HeartbeatSchema,
  LogAppendSchema,
  ListQuerySchema,
  StatusCreateSchema,
  StatusUpdateSchema,
} from '../http/schemas/status'
import type { DeliveryQuerySchema, WebhookCreateSchema } from '../http/schemas/webhooks'
import type { StatsSchema } from '../http/schemas/responses'
import type { SubscribeSchema } from '../http/schemas/socket'
import type { SortKey } from '../services/status-filter-service'
import type { Page as ServerPage } from '../services/status-service'
import type { ItemResult } from '../services/status-updater'

export type { PriorityValue, SortKey, StatusValue }

/** A server type as it arrives in JSON: dates become RFC 3339 strings, everything else is unchanged. */
export type Wire<T> = T extends Date ? string : T extends object ? { [K in keyof T]: Wire<T[K]> } : T

// Outputs: the server's own types, as JSON.
export type StatusRecord = Wire<Domain.StatusRecord>
/** An event of the feed: a change (with `changes` and `status`) or a log's lines (`type: 'status.log'`). */
export type StatusEvent = Wire<Domain.StatusEvent>
export type StatusChangeEvent = Wire<Domain.StatusChangeEvent>
export type StatusLogEvent = Wire<Domain.StatusLogEvent>
export type LogLine = Wire<Domain.LogLine>
export type LogLevel = Domain.LogLevel
export type EventType = Domain.EventType
export type ErrorInfo = Domain.ErrorInfo
export type Webhook = Wire<Hooks.Webhook>
export type CreatedWebhook = Webhook & { secret: string }
export type Delivery = Wire<Hooks.Delivery>
export type DeliveryState = Hooks.DeliveryState
export type ApiKey = Wire<ApiKeyRow>
/** The answer to creating a key: the key's secret is in `key`, shown only this once. */
export type CreatedApiKey = ApiKey & { key: string }
export type Page<T> = Wire<ServerPage<T>>
export type StatusPage = Page<StatusRecord> & { total?: number }

/** `PUT` answers with the record and whether it was applied (`false`: an older `reported_at`). */
export type UpdatedStatus = StatusRecord & { applied: boolean }

export interface EventsPage {
  items: StatusEvent[]
  next_after_seq: number
  has_more: boolean
}

/** `GET /api/stats`, as its response schema says. */
export type Stats = z.output<typeof StatsSchema>

export interface BatchRejection {
  index: number
  error: { code: string; message: string; errors?: { path: string; message: string }[] }
}
export type BatchItemResult = ItemResult & { index: number }
export interface BatchAccepted {
  accepted: number
  rejected: BatchRejection[]
}
export interface BatchCommitted extends BatchAccepted {
  results: BatchItemResult[]
}

// Inputs: request bodies are exactly what the server's zod schemas accept.
export type StatusCreateInput = Omit<z.input<typeof StatusCreateSchema>, 'start_by' | 'deadline_at'> & {
  /** SPEC §11: still waiting to start at this time, it fails (`start-timeout`). In the future. */
  start_by?: string | Date
  /** SPEC §11: not finished at this time, it fails (`deadline-exceeded`). In the future. */
  deadline_at?: string | Date
}
export type HeartbeatInput = NonNullable<z.input<typeof HeartbeatSchema>>
/** A log line as sent: `at` may be a `Date`. */
export type LogLineInput = Omit<z.input<typeof LogAppendSchema>['lines'][number], 'at'> & {
  at?: string | Date
}

/** What `statuses.waitFor` waits for. */
export interface WaitForOptions {
  until: 'terminal' | 'change'
  /** `change`: a version above this one (default: the version when asked). */
  afterVersion?: number
  /** Give up after this long with `wait-timeout` (default: wait for as long as it takes). */
  timeoutMs?: number
  signal?: AbortSignal
}
export type StatusUpdateInput = Omit<z.input<typeof StatusUpdateSchema>, 'reported_at'> & {
  /** The producer's clock; an update older than the last applied one is ignored (`applied: false`). */
  reported_at?: string | Date
}
export type ErrorReportInput = z.input<typeof ErrorReportSchema>
export type BatchItemInput = z.input<typeof BatchItemSchema>
export type WebhookCreateInput = z.input<typeof WebhookCreateSchema>
export type KeyCreateInput = z.input<typeof KeyCreateSchema>
export type Scope = KeyCreateInput['scopes'][number]

/**
 * A query parameter as the client takes it, from what the server's schema parses it into: lists may be
 * one value or several (sent comma-joined), times a `Date` or an RFC 3339 string.
 */
type QueryParam<T> = [T] extends [Date]
  ? Date | string
  : [T] extends [readonly (infer E)[]]
    ? E | readonly E[]
    : T
type QueryParams<Parsed> = { [K in keyof Parsed]?: QueryParam<NonNullable<Parsed[K]>> }

export type StatusFilter = QueryParams<z.output<typeof FilterQuerySchema>>
export type ListQuery = QueryParams<Omit<z.output<typeof ListQuerySchema>, 'sort'>> & {
  /** A field, `-` first for descending; default `-updated_at`. */
  sort?: SortKey | `-${SortKey}`
}
export type PageQuery = QueryParams<z.output<typeof PageQuerySchema>>
export type EventsQuery = QueryParams<z.output<typeof EventsQuerySchema>>
export type DeliveryQuery = QueryParams<z.output<typeof DeliveryQuerySchema>>

/** What a Socket.IO subscription selects, and where it starts (`since_seq`; else a snapshot). */
export type SubscribeRequest = z.input<typeof SubscribeSchema>

/** The acknowledgement of a subscription that started. */
export interface SubscribeAck {
  ok: true
  subscription_id: string
  seq: number
  snapshot?: StatusRecord[]
  replayed: number
}

/** The RFC 9457 body of every error answer; some codes add fields of their own (`from`, `to`, …). */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  errors?: { path: string; message: string }[]
  [extra: string]: unknown
}

export interface Health {
  status: string
}
