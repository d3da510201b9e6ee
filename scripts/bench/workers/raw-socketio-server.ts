// The ceiling for fan-out: a bare Socket.IO 4 server (namespace /status, no auth, no database) that
// broadcasts one fixed `status.event` to every connected client, as fast as the clients take it or at a
// set rate. Run as its own process by scripts/bench.ts, steered over plain HTTP:
//   GET /health, POST /payload { args: [...] }  (the emit's arguments),
//   POST /start { rate }  (broadcasts per second; 0 = as fast as the slowest socket drains),
//   POST /stop → { sent }  (broadcasts since /start).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Server, type Socket } from 'socket.io'

// A socket with more engine.io packets than this waiting to be written holds the broadcasts back, as
// the service holds back (and then drops) a subscriber that does not keep up.
const MAX_BUFFERED = 64
// Broadcasts per turn of the event loop when running flat out.
const BURST = 8

let args: unknown[] = [{ hello: 'world' }]
let running = false
let sent = 0
let timer: NodeJS.Timeout | null = null

const http = createServer((req, res) => {
  void route(req, res).catch((err: unknown) => reply(res, 500, { error: String(err) }))
})
const io = new Server(http, { serveClient: false })
const namespace = io.of('/status')
namespace.on('connection', (socket) => {
  socket.on('subscribe', (_payload: unknown, ack?: (answer: unknown) => void) => {
    if (typeof ack === 'function') ack({ ok: true, subscription_id: 'raw', seq: 0, replayed: 0 })
  })
})

const buffered = (socket: Socket) => (socket.conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length

function busiest(): number {
  let most = 0
  for (const socket of namespace.sockets.values()) most = Math.max(most, buffered(socket))
  return most
}

function broadcast(): void {
  namespace.emit('status.event', ...args)
  sent += 1
}

function flatOut(): void {
  if (!running) return
  if (busiest() >= MAX_BUFFERED) {
    timer = setTimeout(flatOut, 1)
    return
  }
  for (let i = 0; i < BURST; i++) broadcast()
  setImmediate(flatOut)
}

function atRate(rate: number): void {
  const started = performance.now()
  const tick = () => {
    if (!running) return
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - sent
    for (let i = 0; i < due; i++) broadcast()
    timer = setTimeout(tick, 5)
  }
  tick()
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.url === '/health') return reply(res, 200, { ok: true, sockets: namespace.sockets.size })
  if (req.method !== 'POST') return reply(res, 404, { error: 'not found' })
  const body = await readJson(req)
  switch (req.url) {
    case '/payload':
      if (!Array.isArray(body.args)) return reply(res, 400, { error: 'args must be an array' })
      args = body.args
      return reply(res, 200, { ok: true })
    case '/start': {
      const rate = Number(body.rate ?? 0)
      running = true
      sent = 0
      if (rate > 0) atRate(rate)
      else flatOut()
      return reply(res, 200, { ok: true })
    }
    case '/stop':
      running = false
      if (timer) clearTimeout(timer)
      return reply(res, 200, { sent })
    default:
      return reply(res, 404, { error: 'not found' })
  }
}

http.listen(Number(process.env.PORT ?? 3002), process.env.HOST ?? '127.0.0.1')
http.once('error', (err) => {
  process.stderr.write(`raw-socketio-server failed: ${err.message}\n`)
  process.exit(1)
})
process.once('SIGTERM', () => {
  running = false
  void io.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
})
