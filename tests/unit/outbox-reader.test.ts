import type { StatusEvent } from '../../src/domain/status-record'
import { createOutboxReader } from '../../src/services/outbox-reader'

/** An outbox of one tenant's events 1..`head`, whose reads are counted and can be made to fail. */
function outboxOf(head: number) {
  const reads = { heads: 0, pages: 0 }
  let failing = false
  const events = {
    async heads() {
      reads.heads++
      if (failing) throw new Error('database unavailable')
      return new Map([['t', head]])
    },
    async after(_tenantId: string, afterSeq: number, limit: number) {
      reads.pages++
      if (failing) throw new Error('database unavailable')
      const seqs = Array.from(
        { length: Math.max(0, Math.min(limit, head - afterSeq)) },
        (_, i) => afterSeq + i + 1,
      )
      return seqs.map((seq) => ({ seq }) as StatusEvent)
    },
  }
  return {
    events,
    reads,
    fail: (value: boolean) => void (failing = value),
    grow: (to: number) => void (head = to),
  }
}

test('when heads are asked twice in a pass, then they are read once, and again after newPass()', async () => {
  const outbox = outboxOf(5)
  const reader = createOutboxReader({ eventRepository: outbox.events, batchSize: 10 })
  await Promise.all([reader.heads(), reader.heads()])
  expect(outbox.reads.heads).toBe(1)
  reader.newPass()
  expect(await reader.heads()).toEqual(new Map([['t', 5]]))
  expect(outbox.reads.heads).toBe(2)
})

test('when a read fails, then it is not kept: the next ask reads again', async () => {
  const outbox = outboxOf(5)
  const reader = createOutboxReader({ eventRepository: outbox.events, batchSize: 10 })
  outbox.fail(true)
  await expect(reader.heads()).rejects.toThrow('database unavailable')
  await expect(reader.page('t', 0)).rejects.toThrow('database unavailable')
  outbox.fail(false)
  expect((await reader.page('t', 0)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
  expect(await reader.heads()).toEqual(new Map([['t', 5]]))
  expect(outbox.reads).toEqual({ heads: 2, pages: 2 })
})

test('when a page is asked again, then the same events come from one read, across passes, until it is evicted', async () => {
  const outbox = outboxOf(25)
  const reader = createOutboxReader({ eventRepository: outbox.events, batchSize: 10, cachedPages: 2 })
  const first = await reader.page('t', 0)
  reader.newPass()
  expect(await reader.page('t', 0)).toBe(first)
  expect(outbox.reads.pages).toBe(1)
  await reader.page('t', 10)
  await reader.page('t', 20)
  // Two pages kept: the first was the least recently used.
  await reader.page('t', 0)
  expect(outbox.reads.pages).toBe(4)
})

test('when a page was empty, then it is not kept: events committed later are read', async () => {
  const outbox = outboxOf(3)
  const reader = createOutboxReader({ eventRepository: outbox.events, batchSize: 10 })
  expect(await reader.page('t', 3)).toEqual([])
  outbox.grow(4)
  expect((await reader.page('t', 3)).map((e) => e.seq)).toEqual([4])
})
