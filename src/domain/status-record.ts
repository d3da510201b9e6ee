import type { PriorityValue, StatusValue } from './transitions'

export interface ErrorInfo {
  message: string
  code?: string
  details?: Record<string, unknown>
}

/** The status as clients see it (SPEC §1); wire names are the contract. */
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
  created_at: Date
  updated_at: Date
  started_at: Date | null
  completed_at: Date | null
  estimated_completion_at: Date | null
  /** SPEC §11: a `starting` or `processing` status silent for longer than this has stalled. */
  heartbeat_timeout_s: number | null
  /** SPEC §11: still `pending` or `retry_pending` at this time, it fails with `start-timeout`. */
  start_by: Date | null
  /** SPEC §11: not terminal at this time, it fails with `deadline-exceeded`. */
  deadline_at: Date | null
  /** The last heartbeat or write after creation; null until the first. */
  last_heartbeat_at: Date | null
}

/** The stored status: the record plus what only the server needs to know. */
export interface StoredStatus extends StatusRecord {
  last_reported_at: Date | null
  /** When its heartbeat lapses: set only while it is `starting` or `processing` with a timeout. */
  stalls_at: Date | null
  /** When it is overdue: its deadline while live, its `start_by` while waiting to start. */
  overdue_at: Date | null
  /** The sooner of the two: when the sweeper has to look at it (indexed). */
  due_at: Date | null
  /** SPEC §14: how many log lines it has had; the last one's `n`. */
  log_lines: number
}

/** What the stored status keeps beside the record. */
export const HIDDEN_FIELDS = ['last_reported_at', 'stalls_at', 'overdue_at', 'due_at', 'log_lines'] as const

/** The events a change of a status makes (§3); its history is made of these. */
export const CHANGE_EVENT_TYPES = [
  'status.created',
  'status.updated',
  'status.progress',
  'status.error',
  'status.cancelled',
  'status.deleted',
] as const
export type ChangeEventType = (typeof CHANGE_EVENT_TYPES)[number]
/** Every event of the feed: the changes, and the lines of a status's log (§14). */
export const EVENT_TYPES = [...CHANGE_EVENT_TYPES, 'status.log'] as const
export type EventType = (typeof EVENT_TYPES)[number]

export type Changes = Record<string, [unknown, unknown]>

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** One line of a status's log, as kept and as its event carries it. */
export interface LogLine {
  at: Date
  level: LogLevel
  message: string
  fields?: Record<string, unknown>
}

export interface StatusChangeEvent {
  event_id: string
  seq: number
  type: ChangeEventType
  status_id: string
  version: number
  occurred_at: Date
  changes: Changes
  status: StatusRecord
}

/** Lines appended to a status's log: the envelope with `lines` in place of `changes` and `status`. */
export interface StatusLogEvent {
  event_id: string
  seq: number
  type: 'status.log'
  status_id: string
  /** The status's version when they were appended (a log changes no version). */
  version: number
  occurred_at: Date
  lines: LogLine[]
}

export type StatusEvent = StatusChangeEvent | StatusLogEvent

export const isLogEvent = (event: StatusEvent): event is StatusLogEvent => event.type === 'status.log'

export function toRecord(stored: StoredStatus): StatusRecord {
  const { last_reported_at: _r, stalls_at: _s, overdue_at: _o, due_at: _d, log_lines: _l, ...record } = stored
  return record
}
