import { canMove, isTerminal, STATUS_VALUES, type StatusValue } from '../../src/domain/transitions'

// SPEC §1, written out independently of the implementation so a change to either is caught.
const LEGAL: Record<StatusValue, StatusValue[]> = {
  pending: ['starting', 'processing', 'cancelled', 'failed'],
  starting: ['processing', 'completed', 'failed', 'retry_pending', 'cancelled'],
  processing: ['completed', 'failed', 'retry_pending', 'cancelled'],
  retry_pending: ['starting', 'processing', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
}
const TERMINAL: StatusValue[] = ['completed', 'failed', 'cancelled']

describe('the transition table', () => {
  const pairs = STATUS_VALUES.flatMap((from) => STATUS_VALUES.map((to) => [from, to] as const))

  test.each(pairs)('moving from %s to %s is allowed exactly when SPEC §1 says so', (from, to) => {
    const expected = from === to ? !TERMINAL.includes(from) : LEGAL[from].includes(to)
    expect(canMove(from, to)).toBe(expected)
  })

  test.each(STATUS_VALUES)('%s is terminal exactly when SPEC §1 says so', (status) => {
    expect(isTerminal(status)).toBe(TERMINAL.includes(status))
  })

  // A status added to the implementation but not to the table above (or dropped from it) fails here,
  // rather than being checked against nothing.
  test('the implementation has exactly the statuses SPEC §1 lists', () => {
    expect([...STATUS_VALUES].sort()).toEqual(Object.keys(LEGAL).sort())
  })
})
