import { StringDecoder } from 'node:string_decoder'

/** Splits a byte stream into lines (`\n` or `\r\n`; a `\r` alone ends a line too, as progress bars redraw with it). */
export function lineSplitter(onLine: (line: string) => void) {
  const decoder = new StringDecoder('utf8')
  let partial = ''
  const take = (text: string) => {
    const parts = (partial + text).split(/\r\n|\n|\r/)
    partial = parts.pop()!
    for (const line of parts) onLine(line)
  }
  return {
    write: (chunk: Buffer) => take(decoder.write(chunk)),
    /** The last line when the stream ended without a newline. */
    end() {
      take(decoder.end())
      if (partial !== '') onLine(partial)
      partial = ''
    },
  }
}

/** `text` cut to at most `max` bytes of UTF-8, without splitting a character. */
export function truncateBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text
  let cut = text.slice(0, max)
  while (Buffer.byteLength(cut) > max - 3) cut = cut.slice(0, -1) // "…" takes 3 bytes
  return `${cut}…`
}

/** The last `count` lines seen, for a failure's message. */
export function tail(count: number) {
  const lines: string[] = []
  return {
    push(line: string) {
      lines.push(line)
      if (lines.length > count) lines.shift()
    },
    /** Newest last, cut from the front to at most `max` characters. */
    text(max: number): string {
      const text = lines.join('\n')
      return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`
    },
  }
}
