// The dashboard's one link to the service: the project's typed client (src/client), narrowed to what the
// page needs. The rest of the page imports only from here: the interface below, and the client's types.
import {
  createStatusTrackerClient,
  StatusTrackerError,
  StatusTrackerNetworkError,
  type ListQuery,
  type LogLine,
  type Page,
  type StatusChangeEvent,
  type StatusPage,
  type StatusRecord,
  type Stats,
  type SubscribeRequest,
} from '../../src/client'

export { PRIORITY_VALUES, STATUS_VALUES } from '../../src/domain/transitions'
export { StatusTrackerError, StatusTrackerNetworkError }
export type {
  ListQuery,
  Page,
  PriorityValue,
  LogLine,
  Stats,
  StatusChangeEvent,
  StatusPage,
  StatusRecord,
  StatusValue,
} from '../../src/client'

/** What a realtime subscription can filter on (a subset of the listing filters). */
export type LiveFilter = NonNullable<SubscribeRequest['filter']>

export type ConnectionState = 'connecting' | 'live' | 'offline' | 'refused'

export interface LiveHandlers {
  /** Each change event once, in `seq` order. */
  event(event: StatusChangeEvent): void
  /** The feed started afresh (first subscription, new filter, or a resync): reload what is shown. */
  reset(): void
  connection(state: ConnectionState, error?: StatusTrackerError): void
}

export interface LiveWatch {
  setFilter(filter: LiveFilter): void
  close(): void
}

/** What the drawer hears of the status it shows. */
export interface FollowHandlers {
  /** Its new log lines as they are appended. */
  lines(lines: LogLine[]): void
  /** Its change events. */
  event(event: StatusChangeEvent): void
  /** Its record, whenever the subscription starts afresh (events may have been missed). */
  record(record: StatusRecord): void
}

/** How many children the drawer loads at a time. */
const CHILD_PAGE = 50

export interface DashboardApi {
  listStatuses(query: ListQuery): Promise<StatusPage>
  status(id: string): Promise<StatusRecord>
  /**
   * A page of the children of `parentId` (SPEC §12), oldest first: children created later come after
   * every page already read.
   */
  children(parentId: string, cursor?: string): Promise<Page<StatusRecord>>
  history(id: string, cursor?: string): Promise<Page<StatusChangeEvent>>
  /** Every kept line of a status's log (at most 1,000), oldest first. */
  logs(id: string): Promise<LogLine[]>
  /** One status's changes and new log lines as they happen, until closed. */
  follow(id: string, handlers: FollowHandlers): { close(): void }
  stats(): Promise<Stats>
  /** Live events for `filter`; resubscribes after a reconnect from the last `seq` seen, without a gap. */
  watch(filter: LiveFilter, handlers: LiveHandlers): LiveWatch
}

/** The API at `baseUrl` (this page's origin by default), called with `apiKey`. */
export function createApi(apiKey: string, baseUrl = ''): DashboardApi {
  const client = createStatusTrackerClient({ baseUrl, apiKey })

  function watch(filter: LiveFilter, handlers: LiveHandlers): LiveWatch {
    // The page reloads its table through the REST API when the feed starts afresh, so the snapshot that
    // comes with a subscription is kept to one status.
    const selector = (next: LiveFilter) => ({ filter: next, snapshot_limit: 1 })
    const fresh = () => {
      handlers.reset()
      handlers.connection('live')
    }
    handlers.connection('connecting')
    const subscription = client.subscribe(selector(filter), {
      // A filtered subscription gets no log lines; the drawer follows the open status's log on its own.
      onEvent: (event) => {
        if (event.type !== 'status.log') handlers.event(event)
      },
      onSnapshot: fresh,
      onResync: fresh,
      onResume: () => handlers.connection('live'),
      onDisconnect: () => handlers.connection('offline'),
      onError: (error) => handlers.connection('refused', error),
    })
    return {
      // A refusal of the new filter ends the subscription and is reported through onError.
      setFilter: (next) => void subscription.change(selector(next)).catch(() => undefined),
      close: () => void subscription.close(),
    }
  }

  return {
    listStatuses: (query) => client.statuses.list({ ...query, include_total: true }),
    status: (id) => client.statuses.get(id),
    children: (parentId, cursor) =>
      client.statuses.list({ parent_id: parentId, sort: 'created_at', limit: CHILD_PAGE, cursor }),
    history: (id, cursor) => client.statuses.history(id, { cursor, limit: 100 }),
    logs: async (id) => (await client.logs.list(id, { limit: 1000 })).items,
    follow(id, handlers) {
      // The table's subscription carries the open status's changes only while it matches the table's
      // filter; a child or parent opened from the drawer may not.
      const fresh = (statuses: StatusRecord[]) => statuses.forEach((status) => handlers.record(status))
      const subscription = client.subscribe(
        { status_ids: [id], snapshot_limit: 1 },
        {
          onEvent: (event) =>
            event.type === 'status.log' ? handlers.lines(event.lines) : handlers.event(event),
          onSnapshot: fresh,
          onResync: fresh,
        },
      )
      return { close: () => void subscription.close() }
    },
    stats: () => client.stats(),
    watch,
  }
}
