export const STATUS_VALUES = [
  'pending',
  'starting',
  'processing',
  'retry_pending',
  'completed',
  'failed',
  'cancelled',
] as const
export type StatusValue = (typeof STATUS_VALUES)[number]

export const PRIORITY_VALUES = ['low', 'normal', 'high', 'critical'] as const
export type PriorityValue = (typeof PRIORITY_VALUES)[number]

export const priorityRank = (priority: PriorityValue): number => PRIORITY_VALUES.indexOf(priority)

// The one place the lifecycle is written down (SPEC §1).
const TRANSITIONS: Record<StatusValue, readonly StatusValue[]> = {
  pending: ['starting', 'processing', 'cancelled', 'failed'],
  starting: ['processing', 'completed', 'failed', 'retry_pending', 'cancelled'],
  processing: ['completed', 'failed', 'retry_pending', 'cancelled'],
  retry_pending: ['starting', 'processing', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
}

export const isTerminal = (status: StatusValue): boolean => TRANSITIONS[status].length === 0

/** Staying in the same state is not a transition, so it is always allowed for a live status. */
export function canMove(from: StatusValue, to: StatusValue): boolean {
  if (from === to) return !isTerminal(from)
  return TRANSITIONS[from].includes(to)
}

export const isStartState = (status: StatusValue): boolean => status === 'starting' || status === 'processing'
