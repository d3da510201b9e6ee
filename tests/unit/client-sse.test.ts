import { createSseParser, readSse } from '../../src/client/sse'
import { toQueryString } from '../../src/client/http'

const stream = `retry: 2000\n: subscribed at seq 3\n\nid: 4\nevent: status.event\ndata: {"seq":4}\n\n: ping\n\nid: 5\r\nevent: status.event\r\ndata: {"seq":5}\r\n\r\nevent: status.overflow\rdata: {"reason":"slow-consumer"}\r\r: end\n`

const expected = [
  { event: 'status.event', data: '{"seq":4}', id: '4' },
  { event: 'status.event', data: '{"seq":5}', id: '5' },
  { event: 'status.overflow', data: '{"reason":"slow-consumer"}', id: '5' },
]

test('when a stream arrives whole, then its messages come out with comments and retry left aside', () => {
  expect(createSseParser().push(stream)).toEqual(expected)
})

test('when the stream is cut at every possible place, including inside \\r\\n, then the same messages come out', () => {
  for (let cut = 1; cut < stream.length; cut++) {
    const parser = createSseParser()
    const messages = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))]
    expect({ cut, messages }).toEqual({ cut, messages: expected })
  }
})

test('when a message has several data lines or no event name, then they are joined and it is a "message"', () => {
  expect(createSseParser().push('data: a\ndata:b\ndata\n\n')).toEqual([{ event: 'message', data: 'a\nb\n' }])
})

test('when a field has no data before the blank line, then nothing is dispatched', () => {
  expect(createSseParser().push('event: status.event\n\n')).toEqual([])
})

test('when bytes arrive split inside a multi-byte character, then the text is decoded intact', async () => {
  const bytes = new TextEncoder().encode('data: {"message":"café ✓"}\n\n')
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const byte of bytes) controller.enqueue(Uint8Array.of(byte))
      controller.close()
    },
  })
  const messages = []
  for await (const message of readSse(body)) messages.push(message)
  expect(messages).toEqual([{ event: 'message', data: '{"message":"café ✓"}' }])
})

test('when a query holds lists, dates, booleans and gaps, then lists are comma-joined and gaps left out', () => {
  const query = toQueryString({
    status: ['processing', 'retry_pending'],
    priority: 'high',
    created_after: new Date('2026-01-02T03:04:05.006Z'),
    include_total: true,
    limit: 20,
    cursor: undefined,
    q: 'a b&c',
  })
  expect(new URLSearchParams(query.slice(1)).toString()).toBe(
    'status=processing%2Cretry_pending&priority=high&created_after=2026-01-02T03%3A04%3A05.006Z&include_total=true&limit=20&q=a+b%26c',
  )
  expect(query.startsWith('?')).toBe(true)
  expect(toQueryString({})).toBe('')
  expect(toQueryString(undefined)).toBe('')
})
