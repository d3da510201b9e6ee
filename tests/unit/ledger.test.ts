import { feedViolations, ledgerViolations, Ledger, type FeedEvent } from '../helpers/ledger'

const event = (seq: number, status_id: string, version: number, type = 'status.updated'): FeedEvent => ({
  seq,
  type,
  status_id,
  version,
})
const stored = (entries: Record<string, number>) => new Map(Object.entries(entries))

describe('ledger check', () => {
  test('when every acknowledged version is stored, or passed, then it finds nothing', () => {
    const ledger = new Ledger()
    ledger.ack('a', 1)
    ledger.ack('a', 3)
    ledger.ack('a', 2)
    ledger.ack('b', 1)
    expect(ledgerViolations(ledger, stored({ a: 3, b: 5, unacknowledged: 1 }))).toEqual([])
  })

  test('when an acknowledged version is beyond the stored one, then it names the status and both versions', () => {
    const ledger = new Ledger()
    ledger.ack('a', 4)
    expect(ledgerViolations(ledger, stored({ a: 3 }))).toEqual([
      'a: acknowledged at version 4, but stored at version 3',
    ])
  })

  test('when an acknowledged create is not stored, then it says so', () => {
    const ledger = new Ledger()
    ledger.ack('a', 1)
    expect(ledgerViolations(ledger, stored({}))).toEqual(['a: acknowledged at version 1, but not stored'])
  })

  test('when a status whose delete was acknowledged is still stored, then it says so', () => {
    const ledger = new Ledger()
    ledger.ack('a', 2)
    ledger.ackDelete('a')
    expect(ledgerViolations(ledger, stored({}))).toEqual([])
    expect(ledgerViolations(ledger, stored({ a: 2 }))).toEqual([
      'a: its delete was acknowledged, but it is stored at version 2',
    ])
    expect(ledger.live()).toEqual([])
  })

  test('when a delete was sent but its answer was lost, then the status may be stored or gone', () => {
    const ledger = new Ledger()
    ledger.ack('a', 3)
    ledger.deleteSent('a')
    expect(ledgerViolations(ledger, stored({}))).toEqual([])
    expect(ledgerViolations(ledger, stored({ a: 3 }))).toEqual([])
    expect(ledgerViolations(ledger, stored({ a: 2 }))).toEqual([
      'a: acknowledged at version 3, but stored at version 2',
    ])
    expect(ledger.mayBeGone('a')).toBe(true)
    expect(ledger.live()).toEqual([])
  })

  test('when an answer carries no version, then the ledger refuses it rather than check nothing', () => {
    expect(() => new Ledger().ack('a', Number.NaN)).toThrow('not a version')
    expect(() => new Ledger().ack('a', 0)).toThrow('not a version')
  })
})

describe('feed check', () => {
  const whole = [
    event(1, 'a', 1, 'status.created'),
    event(2, 'b', 1, 'status.created'),
    event(3, 'a', 2),
    event(4, 'a', 2, 'status.log'),
    event(5, 'b', 2, 'status.progress'),
    event(6, 'b', 3, 'status.deleted'),
    event(7, 'b', 1, 'status.created'),
  ]

  test('when seq runs 1..head and each status is at its last event, then it finds nothing', () => {
    expect(feedViolations(whole, stored({ a: 2, b: 1 }))).toEqual([])
    expect(feedViolations([], stored({}))).toEqual([])
  })

  test('when a seq is missing or repeated, then it names where', () => {
    const hole = whole.filter((e) => e.seq !== 3).map((e) => (e.status_id === 'a' ? { ...e, version: 1 } : e))
    expect(feedViolations(hole, stored({ a: 1, b: 1 }))).toContain('feed: seq 4 follows seq 2 (expected 3)')
    const repeated = [...whole.slice(0, 3), whole[2], ...whole.slice(3)]
    expect(feedViolations(repeated, stored({ a: 2, b: 1 }))).toEqual(
      expect.arrayContaining([
        'feed: seq 3 follows seq 3 (expected 4)',
        'a: event seq 3 (status.updated) has version 2, expected 3',
      ]),
    )
    expect(feedViolations(whole.slice(1), stored({ a: 2, b: 1 }))).toContain(
      'feed: seq 2 follows the start (expected 1)',
    )
  })

  test('when a status is stored at another version than its last event, then it says so', () => {
    expect(feedViolations(whole, stored({ a: 3, b: 1 }))).toEqual([
      'a: stored at version 3, but its last event (seq 3) has version 2',
    ])
  })

  test('when a stored status has no event, or an evented one is not stored, then it says so', () => {
    expect(feedViolations(whole, stored({ a: 2, b: 1, c: 1 }))).toEqual([
      'c: stored at version 1, but the feed has no event for it',
    ])
    expect(feedViolations(whole, stored({ b: 1 }))).toEqual([
      'a: its last event (seq 3) has version 2, but it is not stored',
    ])
  })

  test('when a deleted status is still stored, then it says so', () => {
    expect(feedViolations(whole.slice(0, 6), stored({ a: 2, b: 3 }))).toEqual([
      'b: its last event is a delete, but it is stored at version 3',
    ])
  })

  test('when versions skip, or a life does not start with a create, then it names the event', () => {
    const skipped = [event(1, 'a', 1, 'status.created'), event(2, 'a', 3)]
    expect(feedViolations(skipped, stored({ a: 3 }))).toEqual([
      'a: event seq 2 (status.updated) has version 3, expected 2',
    ])
    expect(feedViolations([event(1, 'a', 1)], stored({ a: 1 }))).toEqual([
      'a: its first event, seq 1, is status.updated, not status.created',
    ])
    const twice = [event(1, 'a', 1, 'status.created'), event(2, 'a', 1, 'status.created')]
    expect(feedViolations(twice, stored({ a: 1 }))).toEqual([
      'a: created again at seq 2 while it was not deleted',
    ])
  })
})
