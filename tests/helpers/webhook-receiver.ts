import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { EventJson } from './status-api'

/** What a receiver does with a request: answer with a status code now, or hold it unanswered. */
export type Reply = number | 'hang'

export interface ReceivedRequest {
  /** Position among the requests of every receiver in this process, so tests compare arrival order. */
  order: number
  method: string
  headers: IncomingHttpHeaders
  /** The body bytes exactly as sent, for signature checks. */
  raw: Buffer
  event: EventJson
  /** When the receiver answered, in the same global order; undefined while held. */
  answeredAt?: number
}

let arrivals = 0

export interface Receiver {
  url: string
  port: number
  received: ReceivedRequest[]
  /** Event ids received, in arrival order (repeats included). */
  eventIds(): string[]
  /** Decides the answer to each request; `n` counts this receiver's requests from 1. */
  reply(decide: (n: number, request: ReceivedRequest) => Reply): void
  /** Requests being held (`'hang'`) that have not been answered or dropped. */
  held(): number
  /** Answers every held request with `status`. */
  release(status?: number): void
  close(): Promise<void>
}

/** A real HTTP server on 127.0.0.1 and a free port, recording every request it receives. */
export async function startReceiver(decide: (n: number, request: ReceivedRequest) => Reply = () => 200) {
  const received: ReceivedRequest[] = []
  const holding = new Map<ReceivedRequest, ServerResponse>()
  let choose = decide
  const answer = (request: ReceivedRequest, res: ServerResponse, status: number) => {
    holding.delete(request)
    arrivals += 1
    request.answeredAt = arrivals
    res.writeHead(status, { 'Content-Type': 'text/plain' }).end(`answered ${status}`)
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      arrivals += 1
      const raw = Buffer.concat(chunks)
      const request: ReceivedRequest = {
        order: arrivals,
        method: req.method ?? '',
        headers: req.headers,
        raw,
        event: JSON.parse(raw.toString('utf8')) as EventJson,
      }
      received.push(request)
      const reply = choose(received.length, request)
      if (reply === 'hang') {
        holding.set(request, res)
        res.once('close', () => holding.delete(request))
      } else answer(request, res, reply)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    received,
    eventIds: () => received.map((request) => request.event.event_id),
    reply(next) {
      choose = next
    },
    held: () => holding.size,
    release(status = 200) {
      for (const [request, res] of [...holding]) answer(request, res, status)
    },
    async close() {
      receiver.release(503)
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return receiver
}
