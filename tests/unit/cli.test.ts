import { filterOf, positive, UsageError } from '../../src/cli/args'
import { duration, table } from '../../src/cli/format'
import { lineSplitter, tail, truncateBytes } from '../../src/cli/lines'
import { main } from '../../src/cli/main'
import { progressOf } from '../../src/cli/run'
import { captureIo } from '../helpers/cli'

describe('progress read off a line', () => {
  test.each([
    ['(\\d+)%', 'copied 42% of 9 files', { progress_percentage: 42 }],
    ['copied (\\d+(?:\\.\\d+)?)', 'copied 12.5 of 100', { progress_percentage: 12.5 }],
    [
      '(?<percent>\\d+)/100 (?<message>.*)',
      '7/100   encoding pass 2  ',
      { progress_percentage: 7, message: 'encoding pass 2' },
    ],
    ['progress: \\d+', 'progress: 250', { progress_percentage: 100 }],
    ['step \\d+', 'step 3', { progress_percentage: 3 }],
  ])('when /%s/ matches "%s", then it is %j', (pattern, line, expected) => {
    expect(progressOf(new RegExp(pattern), line)).toEqual(expected)
  })

  test.each([
    ['(\\d+)%', 'no number here'],
    ['progress', 'progress: unknown'],
    ['(x)?done', 'done'],
  ])('when /%s/ meets "%s", then there is no progress', (pattern, line) => {
    expect(progressOf(new RegExp(pattern), line)).toBeUndefined()
  })
})

describe('output lines', () => {
  test('when chunks split lines anywhere, then each line comes out whole, with \\r\\n, \\r and a last line without newline', () => {
    const lines: string[] = []
    const split = lineSplitter((line) => lines.push(line))
    const bytes = Buffer.from('one\r\ntw€o\nthree\rfour')
    // Cut inside the euro sign's three bytes as well.
    for (const [from, to] of [
      [0, 2],
      [2, 7],
      [7, 9],
      [9, 16],
      [16, bytes.length],
    ])
      split.write(bytes.subarray(from, to))
    expect(lines).toEqual(['one', 'tw€o', 'three'])
    split.end()
    expect(lines).toEqual(['one', 'tw€o', 'three', 'four'])
  })

  test('when a line is over the limit, then it is cut to it in UTF-8 bytes without splitting a character', () => {
    expect(truncateBytes('short', 2048)).toBe('short')
    const cut = truncateBytes('é'.repeat(2000), 2048)
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(2048)
    expect(cut.endsWith('é…')).toBe(true)
  })

  test('when more lines come than the tail keeps, then it has the newest, cut from the front to the limit', () => {
    const last = tail(3)
    for (const line of ['a', 'b', 'c', 'd']) last.push(line)
    expect(last.text(100)).toBe('b\nc\nd')
    expect(last.text(4)).toBe('…c\nd')
  })
})

describe('formatting', () => {
  test.each([
    [0, '0s'],
    [44_600, '45s'],
    [200_000, '3m20s'],
    [3_720_000, '1h02m'],
  ])('when %d ms are shown, then they read %s', (ms, text) => expect(duration(ms)).toBe(text))

  test('when a table is printed, then columns are padded to their widest cell and lines have no trailing space', () => {
    expect(
      table(
        ['ID', 'STATE', 'NOTE'],
        [
          ['a-long-id', 'ok', ''],
          ['b', 'failed', 'why'],
        ],
      ),
    ).toBe('ID         STATE   NOTE\na-long-id  ok\nb          failed  why\n')
  })
})

describe('the command line', () => {
  const io = () => captureIo()

  test('when filters and numbers are parsed, then bad ones are usage errors naming what is wrong', () => {
    expect(filterOf(['kind=video', 'status=a,b'], ['kind', 'status'])).toEqual({
      kind: 'video',
      status: 'a,b',
    })
    expect(() => filterOf(['colour=red'], ['kind'])).toThrow(
      new UsageError('--filter takes NAME=VALUE with NAME one of kind; got "colour=red"'),
    )
    expect(() => filterOf(['=x'], ['kind'])).toThrow(UsageError)
    expect(positive('limit', '5')).toBe(5)
    expect(positive('limit', undefined)).toBeUndefined()
    for (const bad of ['0', '-1', 'x'])
      expect(() => positive('limit', bad)).toThrow(`--limit must be a positive number, got "${bad}"`)
  })

  test.each([
    [[], 2, 'stderr'],
    [['--help'], 0, 'stdout'],
    [['explode'], 2, 'stderr'],
    [['get'], 2, 'stderr'],
    [['get', 'a', 'b'], 2, 'stderr'],
    [['list', 'extra'], 2, 'stderr'],
    [['list', '--limit', 'many'], 2, 'stderr'],
    [['watch'], 2, 'stderr'],
    [['get', 'x', '--url', 'not a url'], 2, 'stderr'],
    [['logs', '--bogus', 'x'], 2, 'stderr'],
  ])('when the command line is %j, then it exits %d with a usage on %s', async (argv, code, where) => {
    const streams = io()
    expect(await main(argv, streams)).toBe(code)
    const text = where === 'stdout' ? streams.out() : streams.err()
    expect(text).toContain('Usage: status-tracker')
    expect(where === 'stdout' ? streams.err() : streams.out()).toBe('')
  })

  test.each(['run', 'watch', 'get', 'list', 'cancel', 'logs'])(
    'when %s is asked for --help, then it prints its usage and exits 0',
    async (name) => {
      const streams = io()
      expect(await main([name, '--help'], streams)).toBe(0)
      expect(streams.out()).toContain(`Usage: status-tracker ${name}`)
      expect(streams.out()).toContain('--token')
    },
  )
})
