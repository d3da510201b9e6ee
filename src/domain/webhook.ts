import type { EventType } from './status-record'

export const DELIVERY_STATES = ['pending', 'delivered', 'dead'] as const
export type DeliveryState = (typeof DELIVERY_STATES)[number]

/** A webhook as clients see it; its secret appears only in the answer to its creation. */
export interface Webhook {
  id: string
  url: string
  events: EventType[]
  created_at: Date
}

/** A delivery as clients see it (SPEC §5), plus what it carries and when it was made and last tried. */
export interface Delivery {
  id: string
  webhook_id: string
  event_id: string
  event_type: EventType
  seq: number
  state: DeliveryState
  attempts: number
  last_error: string | null
  next_attempt_at: Date | null
  last_attempt_at: Date | null
  created_at: Date
}

export interface BackoffPolicy {
  baseMs: number
  maxMs: number
}

/**
 * The wait after failed attempt `attempt` (1, 2, …): base × 2^(attempt − 1), capped, with equal
 * jitter (between half and all of it), so receivers coming back up are not hit by every sender at
 * once and a retry never comes sooner than half the nominal delay.
 */
export function retryDelay(attempt: number, { baseMs, maxMs }: BackoffPolicy, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}
