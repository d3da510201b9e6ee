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
}

/** The stored status: the record plus what only the server needs to know. */
export interface StoredStatus extends StatusRecord {
  last_reported_at: Date | null
}

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
  const { last_reported_at: _hidden, ...record } = stored
  return record
}
