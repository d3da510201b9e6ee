import type { StatusEvent } from '../domain/status-record'

/** Somewhere events go: delivered per tenant in `seq` order, at least once; throwing means "retry". */
export interface EventSink {
  name: string
  /**
   * A durable sink resumes from its stored checkpoint after a restart, and with several instances only
   * the holder of a tenant's lease relays that tenant to it; others start at the head on every instance.
   */
  durable: boolean
  deliver(tenantId: string, events: StatusEvent[]): Promise<void> | void
  /** False when nobody would receive this tenant's events: the sink then skips them unread. */
  wants?(tenantId: string): boolean | Promise<boolean>
}
