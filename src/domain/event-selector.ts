import { isOverdue, isStalled } from './liveness'
import type { StatusEvent, StatusRecord } from './status-record'
import type { StatusValue } from './transitions'

/** A subscription's filter (SPEC §4, §11, §12): a status matches when it matches every field given. */
export interface SelectorFilter {
  status?: string[]
  priority?: string[]
  kind?: string
  parent_id?: string
  stalled?: true
  overdue?: true
}

/** What a live subscriber asked for: some statuses by id, or a filter on status, priority, kind or parent. */
export interface EventSelector {
  ids?: string[]
  /**
   * These statuses and their trees (SPEC §12): the ids of a parent and of its descendants, and every
   * status created under one of them later. With `ids`, either selects.
   */
  tree?: string[]
  filter?: SelectorFilter
}

type Selected = Pick<
  StatusRecord,
  | 'status'
  | 'priority'
  | 'kind'
  | 'parent_id'
  | 'heartbeat_timeout_s'
  | 'start_by'
  | 'deadline_at'
  | 'last_heartbeat_at'
  | 'created_at'
>

/** An event's record has its times as text (it was stored as JSON). */
const at = (value: Date | string | null) => (value === null ? null : new Date(value))

/**
 * Which events a subscriber sees: its ids, or statuses its filter selects before or after the change,
 * so a status leaving the filter (processing → completed under `status: [processing]`) is seen too.
 * `stalled` and `overdue` are judged at the event's time: the sweeper's own event for a status is the
 * one that ends its stall.
 */
export function matcherFor(selector: EventSelector): (event: StatusEvent) => boolean {
  if (selector.tree) {
    // Events come in `seq` order and a child is made after its parent: the set grows as the tree does.
    const ids = new Set([...(selector.ids ?? []), ...selector.tree])
    const tree = new Set(selector.tree)
    return (event) => {
      if (
        event.type === 'status.created' &&
        event.status.parent_id !== null &&
        tree.has(event.status.parent_id)
      ) {
        tree.add(event.status_id)
        ids.add(event.status_id)
      }
      return ids.has(event.status_id)
    }
  }
  if (selector.ids) {
    const ids = new Set(selector.ids)
    return (event) => ids.has(event.status_id)
  }
  // A log event carries no record to judge a filter by: it reaches subscriptions by id, and every one
  // that selects nothing (the whole feed).
  if (!selector.filter) return () => true
  const { status, priority, kind, parent_id, stalled, overdue } = selector.filter ?? {}
  const selects = (values: Selected, now: Date) =>
    (!status?.length || status.includes(values.status)) &&
    (!priority?.length || priority.includes(values.priority)) &&
    (kind === undefined || values.kind === kind) &&
    // A status's parent never changes, so its record after says it.
    (parent_id === undefined || values.parent_id === parent_id) &&
    (!stalled || isStalled(timed(values), now)) &&
    (!overdue || isOverdue(timed(values), now))
  return (event) => {
    if (event.type === 'status.log') return false
    const after = event.status
    const before = <K extends keyof Selected>(field: K): Selected[K] =>
      field in event.changes ? (event.changes[field]![0] as Selected[K]) : after[field]
    const now = new Date(event.occurred_at)
    return (
      selects(after, now) ||
      selects(
        {
          ...after,
          status: before('status') as StatusValue,
          priority: before('priority'),
          kind: before('kind'),
        },
        now,
      )
    )
  }
}

const timed = (s: Selected) => ({
  ...s,
  start_by: at(s.start_by),
  deadline_at: at(s.deadline_at),
  last_heartbeat_at: at(s.last_heartbeat_at),
  created_at: at(s.created_at)!,
})
