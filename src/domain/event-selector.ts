import type { StatusEvent } from './status-record'

/** What a live subscriber asked for: some statuses by id, or a filter on status, priority and kind. */
export interface EventSelector {
  ids?: string[]
  filter?: { status?: string[]; priority?: string[]; kind?: string }
}

/**
 * Which events a subscriber sees: its ids, or statuses its filter selects before or after the change,
 * so a status leaving the filter (processing → completed under `status: [processing]`) is seen too.
 */
export function matcherFor(selector: EventSelector): (event: StatusEvent) => boolean {
  if (selector.ids) {
    const ids = new Set(selector.ids)
    return (event) => ids.has(event.status_id)
  }
  const { status, priority, kind } = selector.filter ?? {}
  const selects = (values: Record<'status' | 'priority' | 'kind', unknown>) =>
    (!status?.length || status.includes(values.status as string)) &&
    (!priority?.length || priority.includes(values.priority as string)) &&
    (kind === undefined || values.kind === kind)
  return (event) => {
    const after = event.status
    const before = (field: 'status' | 'priority' | 'kind') =>
      field in event.changes ? event.changes[field]![0] : after[field]
    return (
      selects(after) ||
      selects({ status: before('status'), priority: before('priority'), kind: before('kind') })
    )
  }
}
