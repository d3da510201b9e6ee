import http from 'node:http'
import type { EventJson } from './status-api'

export interface Frame {
  id?: string
  event?: string
  data?: string
  retry?: string
  comments: string[]
}

export interface Stream {
  status: number
  headers: http.IncomingHttpHeaders
  frames: Frame[]
  /** The `status.event` frames' envelopes. */
  events(): EventJson[]
  body(): string
  ended(): boolean
  response: http.IncomingMessage
  close(): void
}

/** Opens `GET /api/events/stream` on `port` with a real HTTP client and parses the frames as they arrive. */
export function openEventStream(
  port: number,
  options: { key?: string; query?: string; headers?: Record<string, string> } = {},
): Promise<Stream> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.key) headers.Authorization = `Bearer ${options.key}`
  return new Promise<Stream>((resolve, reject) => {
    const request = http.get(
      {
        host: '127.0.0.1',
        port,
        path: `/api/events/stream${options.query ?? ''}`,
        headers,
        agent: false,
      },
      (response) => {
        let text = ''
        let pending = ''
        let ended = false
        const frames: Frame[] = []
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
          pending += chunk
          let end: number
          while ((end = pending.indexOf('\n\n')) >= 0) {
            const block = pending.slice(0, end)
            pending = pending.slice(end + 2)
            const frame: Frame = { comments: [] }
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) frame.comments.push(line.slice(1).trim())
              else {
                const colon = line.indexOf(':')
                const field = line.slice(0, colon) as 'id' | 'event' | 'data' | 'retry'
                frame[field] = line.slice(colon + 1).replace(/^ /, '')
              }
            }
            frames.push(frame)
          }
        })
        response.on('end', () => (ended = true))
        response.on('error', () => (ended = true))
        const stream: Stream = {
          status: response.statusCode ?? 0,
          headers: response.headers,
          frames,
          events: () =>
            frames.filter((f) => f.event === 'status.event').map((f) => JSON.parse(f.data!) as EventJson),
          body: () => text,
          ended: () => ended,
          response,
          close: () => request.destroy(),
        }
        resolve(stream)
      },
    )
    request.on('error', reject)
  })
}
