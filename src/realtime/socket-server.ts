import { randomUUID } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import type { Logger } from 'pino'
import { Server, type Socket } from 'socket.io'
import { z } from 'zod'
import { AppError, forbidden, statusNotFound, unauthenticated, zodIssues } from '../errors'
import { corsOrigin, type CorsOrigins } from '../http/cors'
import { SubscribeSchema, UnsubscribeSchema } from '../http/schemas/socket'
import { identify, type Credentials } from '../http/auth'
import { hasScope, type ApiKey } from '../services/api-key-service'
import { followable, type Grant } from '../services/token-service'
import type { StatusService } from '../services/status-service'
import type { Cluster } from './cluster'
import type { StatusEvent } from '../domain/status-record'
import { matcherFor } from '../domain/event-selector'
import type { StatusEventManager, Subscribed } from '../services/status-event-manager'

export interface SocketServerOptions {
  /** API keys, and browser tokens (SPEC §13), which subscribe to their own statuses only. */
  credentials: Credentials
  eventManager: StatusEventManager
  /** For subscriptions' snapshots. */
  statuses: Pick<StatusService, 'snapshot' | 'descendantIds'>
  logger: Logger
  /** Packets queued for one socket before it is disconnected as a slow consumer. */
  maxBufferedPackets?: number
  maxSubscriptionsPerSocket?: number
  /** Other instances on the same PostgreSQL: their commits wake this instance's event manager. */
  cluster?: Cluster
  /** Browser origins allowed to poll (CORS); none when omitted. WebSockets are not subject to CORS. */
  corsOrigins?: CorsOrigins
}

type Ack = (answer: unknown) => void

const problem = (err: unknown) => {
  if (err instanceof z.ZodError)
    return { code: 'validation-failed', message: 'The request is not valid', errors: zodIssues(err) }
  if (err instanceof AppError) return { code: err.code, message: err.message }
  return { code: 'internal-error', message: 'Something went wrong on our side' }
}

/**
 * Socket.IO namespace `/status`: API-key auth at handshake, and subscriptions by
 * ids or filter that start from a snapshot or a `since_seq` replay and continue live without a gap.
 */
export function attachSocketServer(httpServer: HttpServer, options: SocketServerOptions) {
  const {
    credentials,
    eventManager,
    statuses,
    logger,
    maxBufferedPackets = 5000,
    maxSubscriptionsPerSocket = 100,
    cluster,
    corsOrigins = [],
  } = options
  const io = new Server(httpServer, {
    serveClient: false,
    cors: { origin: corsOrigin(corsOrigins) },
    adapter: cluster?.adapter,
  })
  const namespace = io.of('/status')
  cluster?.join(namespace, () => eventManager.notify())
  const connections = new Map<
    string,
    { socket: Socket; subscriptions: Map<string, Subscribed<unknown>>; queued: () => number }
  >()

  /**
   * Packets engine.io holds for a connection that it has not yet handed to the transport, from its
   * public events: each packet is announced (`packetCreate`) as it joins the write buffer, and each
   * `flush` hands the whole buffer on.
   */
  function countQueued(socket: Socket): () => number {
    let queued = 0
    socket.conn.on('packetCreate', () => (queued += 1))
    socket.conn.on('flush', (buffer: unknown[]) => (queued -= buffer.length))
    return () => queued
  }

  // Events bound for sockets collect here and go out together once per tick: one emit per event to all
  // the sockets that want it, so Socket.IO encodes each event once however many subscribers there are.
  const outbox = new Map<StatusEvent, Set<string>>()
  let flushQueued = false

  function enqueue(event: StatusEvent, socketId: string): void {
    let targets = outbox.get(event)
    if (!targets) outbox.set(event, (targets = new Set()))
    targets.add(socketId)
    if (!flushQueued) {
      flushQueued = true
      queueMicrotask(flushOutbox)
    }
  }

  function flushOutbox(): void {
    flushQueued = false
    const touched = new Set<string>()
    for (const [event, targets] of outbox) {
      // Local only: each instance serves its own sockets from the shared feed; through the cluster
      // adapter the event would reach the other instances' sockets a second time.
      namespace.local.to([...targets]).emit('status.event', event)
      for (const id of targets) touched.add(id)
    }
    outbox.clear()
    // A socket that cannot keep up is cut loose rather than buffered without bound.
    for (const id of touched) {
      const connection = connections.get(id)
      if (connection && connection.queued() > maxBufferedPackets) overflow(connection.socket)
    }
  }

  function overflow(socket: Socket): void {
    const connection = connections.get(socket.id)
    if (!connection) return
    connections.delete(socket.id)
    logger.warn({ socket: socket.id, queued: connection.queued() }, 'disconnecting a slow consumer')
    for (const [id, subscription] of [...connection.subscriptions]) {
      socket.emit('status.overflow', { subscription_id: id, reason: 'slow-consumer' })
      subscription.close('slow-consumer')
    }
    socket.disconnect(true)
  }

  namespace.use(async (socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown }
    const header = socket.handshake.headers['x-api-key']
    const token =
      typeof auth?.token === 'string' ? auth.token : typeof header === 'string' ? header : undefined
    let found: Awaited<ReturnType<typeof identify>> = null
    let refusal: AppError | null = null
    try {
      if (token !== undefined) found = await identify(credentials, token)
    } catch (err) {
      // An expired token says so; a lookup that failed is no key.
      refusal = err instanceof AppError ? err : unauthenticated()
    }
    if (!found) refusal ??= unauthenticated()
    else if (!hasScope(found.key, 'status:read')) refusal = forbidden('status:read')
    if (refusal || !found) {
      const why = refusal ?? unauthenticated()
      const err = new Error(why.code) as Error & { data: unknown }
      err.data = { code: why.code, message: why.message }
      return next(err)
    }
    socket.data.key = found.key
    socket.data.grant = found.grant
    next()
  })

  namespace.on('connection', (socket: Socket) => {
    const key = socket.data.key as ApiKey
    const grant = socket.data.grant as Grant | undefined
    const tenantId = key.tenant_id
    const subscriptions = new Map<string, Subscribed<unknown>>()
    connections.set(socket.id, { socket, subscriptions, queued: countQueued(socket) })

    socket.on('subscribe', async (payload: unknown, ack?: Ack) => {
      const reply: Ack = typeof ack === 'function' ? ack : () => undefined
      try {
        const request = SubscribeSchema.parse(payload ?? {})
        if (subscriptions.size >= maxSubscriptionsPerSocket) {
          throw new AppError(
            'too-many-subscriptions',
            `At most ${maxSubscriptionsPerSocket} subscriptions per connection`,
          )
        }
        const id = randomUUID()
        // A browser token subscribes to its own statuses: those it names among them, or all of them; a
        // filter only on the children of a status it covers.
        if (grant && request.filter) {
          const parent = request.filter.parent_id
          if (parent === undefined) throw forbidden('status:read')
          if (!(await grant.covers(parent))) throw statusNotFound(parent)
        }
        const selector =
          grant && !request.filter
            ? await followable(grant, request.status_ids, (root, limit) =>
                statuses.descendantIds(tenantId, root, limit),
              )
            : { ids: request.status_ids, filter: request.filter }
        const subscription = await eventManager.subscribe(tenantId, {
          from:
            request.since_seq !== undefined
              ? { sinceSeq: request.since_seq }
              : {
                  snapshot: () =>
                    statuses.snapshot(tenantId, {
                      // A tree's snapshot is its first statuses; the others come as they change.
                      ids: selector.tree
                        ? [...(selector.ids ?? []), ...selector.tree].slice(0, request.snapshot_limit)
                        : selector.ids,
                      filter: selector.filter,
                      limit: request.snapshot_limit,
                    }),
                },
          match: matcherFor(selector),
          send: (event) => {
            enqueue(event, socket.id)
            return true
          },
          bookmark: (seq) => socket.emit('status.bookmark', { subscription_id: id, seq }),
          onClose: (reason) => {
            // Closed by the event manager itself (too far behind while catching up): drop the connection.
            if (reason === 'slow-consumer') overflow(socket)
            subscriptions.delete(id)
          },
        })
        if (socket.disconnected) return subscription.close('unsubscribed')
        if (subscription.resync) {
          socket.emit('status.resync', {
            since_seq: request.since_seq,
            seq: subscription.seq,
            reason: 'since_seq is outside the stored events',
          })
          reply({
            ok: false,
            error: { code: 'resync-required', message: 'Take a fresh snapshot: subscribe without since_seq' },
            seq: subscription.seq,
          })
          return
        }
        subscriptions.set(id, subscription)
        // Whatever is already queued for this socket goes first, so this subscription's replay and
        // live events follow each other in order.
        flushOutbox()
        reply({
          ok: true,
          subscription_id: id,
          seq: subscription.seq,
          ...(subscription.snapshot && { snapshot: subscription.snapshot }),
          replayed: subscription.replayed,
        })
        subscription.start()
      } catch (err) {
        if (!(err instanceof z.ZodError || err instanceof AppError)) logger.error({ err }, 'subscribe failed')
        reply({ ok: false, error: problem(err) })
      }
    })

    socket.on('unsubscribe', (payload: unknown, ack?: Ack) => {
      const reply: Ack = typeof ack === 'function' ? ack : () => undefined
      const parsed = UnsubscribeSchema.safeParse(payload)
      if (!parsed.success) return reply({ ok: false, error: problem(parsed.error) })
      const subscription = subscriptions.get(parsed.data.subscription_id)
      if (!subscription)
        return reply({
          ok: false,
          error: { code: 'subscription-not-found', message: 'No such subscription on this connection' },
        })
      subscription.close('unsubscribed')
      reply({ ok: true })
    })

    socket.on('disconnect', () => {
      connections.delete(socket.id)
      for (const subscription of [...subscriptions.values()]) subscription.close('unsubscribed')
    })
  })

  let closing: Promise<void> | undefined
  return {
    io,
    connections: () => namespace.sockets.size,
    /** Disconnects every client; safe to call twice. */
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        namespace.disconnectSockets(true)
        void io.close(() => resolve())
      })),
  }
}

export type SocketServer = ReturnType<typeof attachSocketServer>
