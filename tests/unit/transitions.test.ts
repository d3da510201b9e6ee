import { canMove, isTerminal, STATUS_VALUES } from '../../src/domain/transitions'
import { SPEC_TERMINAL, SPEC_TRANSITIONS } from '../helpers/spec'

const LEGAL = SPEC_TRANSITIONS
const TERMINAL = SPEC_TERMINAL

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
