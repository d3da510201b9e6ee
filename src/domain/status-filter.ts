import type { PriorityValue, StatusValue } from './transitions'

export const SORT_KEYS = ['created_at', 'updated_at', 'priority', 'progress_percentage', 'status_id'] as const
export type SortKey = (typeof SORT_KEYS)[number]

/** Which statuses a listing, a count, a bulk cancel or a subscription selects. */
export interface StatusFilter {
  status?: StatusValue[]
  priority?: PriorityValue[]
  kind?: string
  resource_id?: string
  /** SPEC §12: the children of this status. */
  parent_id?: string
  /** Any of these tags. */
  tag?: string[]
  progress_gte?: number
  progress_lte?: number
  created_after?: Date
  created_before?: Date
  updated_after?: Date
  updated_before?: Date
  /** A substring of status_id, message or resource_id. */
  q?: string
  /** Its heartbeat has lapsed and the sweeper has not yet acted (SPEC §11). */
  stalled?: true
  /** Past its `deadline_at`, or past `start_by` without having started. */
  overdue?: true
}

/** The filter keys a caller may combine (AND across keys, OR within a list). */
export const FILTER_KEYS = [
  'status',
  'priority',
  'kind',
  'resource_id',
  'parent_id',
  'tag',
  'progress_gte',
  'progress_lte',
  'created_after',
  'created_before',
  'updated_after',
  'updated_before',
  'q',
  'stalled',
  'overdue',
] as const satisfies readonly (keyof StatusFilter)[]

export interface Sort {
  key: SortKey
  descending: boolean
}
