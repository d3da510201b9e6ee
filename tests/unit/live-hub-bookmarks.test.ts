import type { StatusEvent } from '../../src/domain/status-record'
import { createLiveHub } from '../../src/services/live-hub'

// SPEC §11's bookmarks, on a clock the test moves: a subscription that skips events hears where the
// feed has got to, no later than bookmarkMs after the first skipped event, and never when nothing was
// skipped since what it was last sent.

beforeEach(() => jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') }))
afterEach(() => jest.useRealTimers())

const event = (seq: number, statusId: string) => ({ seq, status_id: statusId }) as StatusEvent

async function subscribed(head = 0) {
  const hub = createLiveHub({
    eventRepository: { head: async () => head, after: async () => [] },
    batchSize: 100,
    maxReplay: 1000,
    maxCatchUpBuffer: 1000,
    expired: async () => false,
    bookmarkMs: 10_000,
  })
  const sent: number[] = []
  const bookmarks: number[] = []
  const subscription = await hub.subscribe('t', {
    from: 'head',
    match: (e) => e.status_id === 'mine',
    send: (e) => {
      sent.push(e.seq)
      return true
    },
    bookmark: (seq) => bookmarks.push(seq),
  })
  subscription.start()
  return {
    hub,
    sent,
    bookmarks,
    subscription,
    deliver: (...events: StatusEvent[]) => hub.sink.deliver('t', events),
  }
}

test('when other statuses’ events go by, then one bookmark comes at most bookmarkMs after the subscription last heard, at the newest seq', async () => {
  const { deliver, bookmarks } = await subscribed(5)
  jest.advanceTimersByTime(4_000)
  deliver(event(6, 'other'), event(7, 'other'))
  jest.advanceTimersByTime(5_999)
  deliver(event(8, 'other'))
  expect(bookmarks).toEqual([])
  jest.advanceTimersByTime(1)
  expect(bookmarks).toEqual([8])
  // Nothing skipped since: no more bookmarks, however long.
  jest.advanceTimersByTime(60_000)
  expect(bookmarks).toEqual([8])
})

test('when a matching event is sent after the skipped ones, then it is the resume point and no bookmark follows', async () => {
  const { deliver, bookmarks, sent } = await subscribed()
  deliver(event(1, 'other'), event(2, 'mine'))
  jest.advanceTimersByTime(20_000)
  expect(sent).toEqual([2])
  expect(bookmarks).toEqual([])
})

test('when skipped events keep coming, then a bookmark at least every bookmarkMs', async () => {
  const { deliver, bookmarks } = await subscribed()
  let seq = 0
  for (let second = 0; second < 35; second++) {
    deliver(event(++seq, 'other'))
    jest.advanceTimersByTime(1_000)
  }
  expect(bookmarks.length).toBeGreaterThanOrEqual(3)
  expect(bookmarks.every((b, i) => i === 0 || b > bookmarks[i - 1]!)).toBe(true)
})

test('when the subscription is closed, then its pending bookmark never comes', async () => {
  const { deliver, bookmarks, subscription } = await subscribed()
  deliver(event(1, 'other'))
  subscription.close()
  jest.advanceTimersByTime(20_000)
  expect(bookmarks).toEqual([])
})
