import type { StatusValue } from '../../src/domain/transitions'

/**
 * SPEC §1's lifecycle, written out here from the contract rather than imported from the implementation, so
 * that tests check the code against the contract (and a change to either is caught).
 */
export const SPEC_TRANSITIONS: Record<StatusValue, StatusValue[]> = {
  pending: ['starting', 'processing', 'cancelled', 'failed'],
  starting: ['processing', 'completed', 'failed', 'retry_pending', 'cancelled'],
  processing: ['completed', 'failed', 'retry_pending', 'cancelled'],
  retry_pending: ['starting', 'processing', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
}

export const SPEC_TERMINAL: StatusValue[] = ['completed', 'failed', 'cancelled']
