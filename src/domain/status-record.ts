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
  /** SPEC §12: the status this one is a child of (same tenant); null for a root. */
  parent_id: string | null
  /** Its weight in its parent's `children.progress_percentage`; > 0, default 1. */
  weight: number
  /** `fail`: the first child that fails fails this status (`child-failed`). */
  on_child_failure: ChildFailurePolicy
  /** Once every child is terminal, this status completes (or fails, when one of them failed). */
  complete_with_children: boolean
  /** Its children's roll-up, kept by the writer in the same transaction as their changes; null without children. */
  children: ChildrenSummary | null
}

export const CHILD_FAILURE_POLICIES = ['fail', 'continue'] as const
export type ChildFailurePolicy = (typeof CHILD_FAILURE_POLICIES)[number]

/** SPEC §12: counts by state (states with none are left out) and the weighted mean of their progress. */
export interface ChildrenSummary {
  total: number
  by_status: Partial<Record<StatusValue, number>>
  progress_percentage: number
}

/** What a parent's summary is kept from, beside it: the sums of its children's weights and weighted progress. */
export interface ChildrenTally {
  weight: number
  weighted: number
  /** The first child seen failing, which a `child-failed` error names. */
  failed: string | null
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
  /** SPEC §12: its level in its tree, 1 for a root; at most 5. */
  depth: number
  /** The sums its `children` summary is kept from; null without children. */
  children_tally: ChildrenTally | null
}

/** What the stored status keeps beside the record. */
export const HIDDEN_FIELDS = [
  'last_reported_at',
  'stalls_at',
  'overdue_at',
  'due_at',
  'log_lines',
  'depth',
  'children_tally',
] as const

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
  const {
    last_reported_at: _r,
    stalls_at: _s,
    overdue_at: _o,
    due_at: _d,
    log_lines: _l,
    depth: _depth,
    children_tally: _t,
    ...record
  } = stored
  return record
}
