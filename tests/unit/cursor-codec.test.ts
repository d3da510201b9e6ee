import { createCursorCodec } from '../../src/services/cursor-codec'

const codec = createCursorCodec('secret-one')

describe('cursor codec', () => {
  test('when a cursor is decoded with its own scope, then the position comes back', () => {
    const cursor = codec.encode('list:abc', ['2026-01-01T00:00:00.000Z', 'job-1'])
    expect(codec.decode('list:abc', cursor)).toEqual(['2026-01-01T00:00:00.000Z', 'job-1'])
  })

  test('when a cursor is decoded for another query, then it is refused', () => {
    const cursor = codec.encode('list:abc', [1, 'a'])
    expect(() => codec.decode('list:other', cursor)).toThrow(
      expect.objectContaining({ code: 'invalid-cursor' }),
    )
  })

  test('when the body of a cursor is altered, then the signature no longer matches', () => {
    const [, mac] = codec.encode('s', [1, 'a']).split('.')
    const forged = `${Buffer.from(JSON.stringify({ s: 's', p: [999, 'a'] })).toString('base64url')}.${mac}`
    expect(() => codec.decode('s', forged)).toThrow(expect.objectContaining({ status: 400 }))
  })

  test('when a cursor was signed with another secret, then it is refused', () => {
    const foreign = createCursorCodec('secret-two').encode('s', [1, 'a'])
    expect(() => codec.decode('s', foreign)).toThrow(expect.objectContaining({ code: 'invalid-cursor' }))
  })

  test.each(['', 'garbage', 'a.b.c', '.', 'abc.'])(
    'when the cursor is malformed (%p), then it is refused',
    (bad) => {
      expect(() => codec.decode('s', bad)).toThrow(expect.objectContaining({ code: 'invalid-cursor' }))
    },
  )

  test('when a correctly signed cursor carries no position list, then it is refused', () => {
    const cursor = codec.encode('s', 'nope' as unknown as unknown[])
    expect(() => codec.decode('s', cursor)).toThrow(expect.objectContaining({ code: 'invalid-cursor' }))
  })
})
