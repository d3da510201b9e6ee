export interface SseMessage {
  event: string
  data: string
  id?: string
}

/**
 * A `text/event-stream` parser (the WHATWG rules, less `retry`): feed it text as it arrives, in chunks
 * cut anywhere, and it returns the messages completed so far.
 */
export function createSseParser() {
  let buffer = ''
  let event = ''
  let data: string[] = []
  let id: string | undefined

  function line(text: string, out: SseMessage[]): void {
    if (text === '') {
      if (data.length > 0)
        out.push({ event: event || 'message', data: data.join('\n'), ...(id !== undefined && { id }) })
      event = ''
      data = []
      return
    }
    if (text.startsWith(':')) return
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? '' : text.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
    else if (field === 'id' && !value.includes('\0')) id = value
  }

  return {
    push(chunk: string): SseMessage[] {
      buffer += chunk
      const out: SseMessage[] = []
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/)
        // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
        if (end === -1 || (buffer[end] === '\r' && end === buffer.length - 1)) break
        const breakLength = buffer.startsWith('\r\n', end) ? 2 : 1
        line(buffer.slice(0, end), out)
        buffer = buffer.slice(end + breakLength)
      }
      return out
    },
  }
}

/** The messages of a `text/event-stream` body, as they arrive. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const parser = createSseParser()
  const decoder = new TextDecoder()
  const reader = body.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      yield* parser.push(decoder.decode(value, { stream: true }))
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}
