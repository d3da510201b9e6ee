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
}

/** What the stored status keeps beside the record. */
export const HIDDEN_FIELDS = ['last_reported_at', 'stalls_at', 'overdue_at', 'due_at'] as const

export const EVENT_TYPES = [
  'status.created',
  'status.updated',
  'status.progress',
  'status.error',
  'status.cancelled',
  'status.deleted',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export type Changes = Record<string, [unknown, unknown]>

export interface StatusEvent {
  event_id: string
  seq: number
  type: EventType
  status_id: string
  version: number
  occurred_at: Date
  changes: Changes
  status: StatusRecord
}

export function toRecord(stored: StoredStatus): StatusRecord {
  const { last_reported_at: _r, stalls_at: _s, overdue_at: _o, due_at: _d, ...record } = stored
  return record
}
