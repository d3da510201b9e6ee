// Many Socket.IO subscribers in one process, a worker of scripts/bench.ts (so they run on the core the
// server does not use): connects them, subscribes each, and counts the `status.event`s they receive.
import { io, type Socket } from 'socket.io-client'
import { serve } from '../lib/ipc'

export interface ConnectRequest {
  /** Server origin; the namespace is /status as in the service. */
  url: string
  count: number
  token?: string
  /** Sent as `subscribe` once connected, and acknowledged with `{ ok: true }`; none when null. */
  subscribe: Record<string, unknown> | null
  /** Clients connecting (and subscribing) at once. */
  concurrency?: number
  timeoutMs?: number
}

export interface ConnectResult {
  connected: number
  failed: number
  seconds: number
  firstError?: string
}

export interface Counts {
  /** `status.event`s received by all clients since they connected. */
  received: number
  connected: number
  /** Clients the server disconnected (a slow consumer is told `status.overflow` first). */
  disconnected: number
  overflows: number
  /** The fewest and most events one client has received. */
  minPerClient: number
  maxPerClient: number
}

let sockets: Socket[] = []
let perClient: number[] = []
let received = 0
let disconnected = 0
let overflows = 0
let closing = false

function connectOne(req: ConnectRequest, index: number, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = io(`${req.url}/status`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      ...(req.token === undefined ? {} : { auth: { token: req.token } }),
    })
    sockets.push(socket)
    perClient[index] = 0
    socket.on('status.event', () => {
      received += 1
      perClient[index]! += 1
    })
    socket.on('status.overflow', () => {
      overflows += 1
    })
    socket.on('disconnect', () => {
      if (!closing) disconnected += 1
    })
    socket.once('connect_error', (err) => reject(err))
    socket.once('connect', () => {
      if (req.subscribe === null) return resolve()
      socket
        .timeout(timeoutMs)
        .emitWithAck('subscribe', req.subscribe)
        .then((ack: { ok?: boolean; error?: unknown }) =>
          ack?.ok ? resolve() : reject(new Error(`subscribe refused: ${JSON.stringify(ack)}`)),
        )
        .catch(reject)
    })
  })
}

serve({
  async connect(message): Promise<ConnectResult> {
    const req = message as unknown as ConnectRequest
    const timeoutMs = req.timeoutMs ?? 30_000
    const started = performance.now()
    const base = sockets.length
    let next = 0
    let connected = 0
    let failed = 0
    let firstError: string | undefined
    const worker = async () => {
      while (next < req.count) {
        const i = next++
        try {
          await connectOne(req, base + i, timeoutMs)
          connected += 1
        } catch (err) {
          failed += 1
          firstError ??= err instanceof Error ? err.message : String(err)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(req.concurrency ?? 50, req.count) }, worker))
    return { connected, failed, seconds: (performance.now() - started) / 1000, firstError }
  },

  counts(): Counts {
    return {
      received,
      connected: sockets.filter((s) => s.connected).length,
      disconnected,
      overflows,
      minPerClient: perClient.length === 0 ? 0 : Math.min(...perClient),
      maxPerClient: perClient.length === 0 ? 0 : Math.max(...perClient),
    }
  },

  async close() {
    closing = true
    for (const socket of sockets) socket.disconnect()
    sockets = []
    perClient = []
    received = 0
    disconnected = 0
    overflows = 0
    // Let the close frames go out before the next run connects.
    await new Promise((resolve) => setTimeout(resolve, 200))
    closing = false
    return {}
  },
})
