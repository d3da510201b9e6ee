import { createHmac } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { v7 as uuidv7 } from 'uuid'
import type { EventRepository } from '../db/event-repository'
import type { AttemptOutcome, Claim, DueWebhook, WebhookRepository } from '../db/webhook-repository'
import { retryDelay } from '../domain/webhook'
import type { Metrics } from '../metrics'
import { coalescedTask } from './coalesced-task'

export interface WebhookDispatcherOptions {
  webhooks: WebhookRepository
  eventRepository: EventRepository
  logger: Logger
  metrics?: Metrics
  clock?: () => Date
  /** Attempts before a delivery is dead. */
  maxAttempts?: number
  /** The wait after the first failure; it doubles with each further one. */
  backoffBaseMs?: number
  backoffMaxMs?: number
  /** How long a receiver has to answer one request. */
  timeoutMs?: number
  /** Requests in flight at most, over all webhooks. */
  concurrency?: number
  /** Requests in flight at most to one webhook, so a slow receiver holds only these few slots. */
  perWebhook?: number
  /** Longest wait between looks for due deliveries (retries falling due, work enqueued elsewhere). */
  pollMs?: number
  /** How long a claimed delivery stays ours; past it (we died) another dispatcher takes it over. */
  leaseMs?: number
  /** Names this instance's leases. */
  owner?: string
  random?: () => number
}

/** `X-Signature`: the hex HMAC-SHA256 of the exact body bytes, keyed with the webhook's secret. */
export const signatureOf = (secret: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`

interface Finished {
  webhookId: string
  outcome: AttemptOutcome
}

/**
 * Sends pending webhook deliveries: claims due ones under a lease, POSTs each event with its
 * signature, and records every attempt. A failure is retried after an exponential backoff with
 * jitter; after `maxAttempts` the delivery is dead. Each webhook has at most `perWebhook` requests in
 * flight and all of them together `concurrency`, so a receiver that hangs until the timeout only ever
 * holds its own few slots while the others keep flowing. Claims for every due webhook are taken in one
 * transaction, and attempts that finish together are recorded in one.
 */
export function createWebhookDispatcher(options: WebhookDispatcherOptions) {
  const {
    webhooks,
    eventRepository,
    logger,
    metrics,
    clock = () => new Date(),
    maxAttempts = 8,
    backoffBaseMs = 1_000,
    backoffMaxMs = 3_600_000,
    timeoutMs = 5_000,
    concurrency = 64,
    perWebhook = 4,
    pollMs = 1_000,
    random = Math.random,
  } = options
  // Long enough to send and record; shorter would let a second dispatcher resend a healthy attempt.
  const leaseMs = options.leaseMs ?? timeoutMs + 10_000
  const backoff = { baseMs: backoffBaseMs, maxMs: backoffMaxMs }
  // A restarted process is a new owner, and waits for its predecessor's leases to expire.
  const owner = options.owner ?? uuidv7()

  let started = false
  let stopped = false
  let stopping: Promise<void> | undefined
  let timer: NodeJS.Timeout | null = null
  // Claimed and not yet recorded, in all and per webhook.
  let active = 0
  const activePerWebhook = new Map<string, number>()
  const sending = new Set<Promise<void>>()
  const finished: Finished[] = []
  let recording: Promise<void> | null = null

  function schedule(delayMs: number): void {
    if (stopped) return
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = null
      wake()
    }, delayMs)
    timer.unref()
  }

  /** Looks for due deliveries now; calls while a look is under way make it look once more. */
  const looking = coalescedTask(() => claimAndSend(), {
    onError: (err) => logger.error({ err }, 'webhook dispatch failed'),
    canRun: () => started && !stopped,
  })
  const wake = () => looking.run()

  async function claimAndSend(): Promise<void> {
    let nextLook = pollMs
    try {
      const now = clock()
      // Earliest due first, each webhook up to its free slots, until the global cap is reached.
      const queues = new Map<string, DueWebhook>()
      const wanted: { webhookId: string; limit: number }[] = []
      let free = concurrency - active
      for (const queue of await webhooks.dueWebhooks(now)) {
        if (free <= 0) break
        const wait = queue.due.getTime() - now.getTime()
        if (wait > 0) {
          // Ordered by due time: the rest are later still.
          nextLook = Math.min(nextLook, wait)
          break
        }
        const room = Math.min(perWebhook - (activePerWebhook.get(queue.id) ?? 0), free)
        if (room <= 0) continue
        queues.set(queue.id, queue)
        wanted.push({ webhookId: queue.id, limit: room })
        free -= room
      }
      if (wanted.length === 0 || stopped) return
      const claims = await webhooks.claim(wanted, owner, now, new Date(now.getTime() + leaseMs))
      for (const claim of claims) send(queues.get(claim.webhook_id)!, claim)
    } finally {
      schedule(nextLook)
    }
  }

  function send(queue: DueWebhook, claim: Claim): void {
    active += 1
    activePerWebhook.set(queue.id, (activePerWebhook.get(queue.id) ?? 0) + 1)
    const task = attempt(queue, claim).then((outcome) => {
      finished.push({ webhookId: queue.id, outcome })
      return record()
    })
    sending.add(task)
    void task.finally(() => sending.delete(task))
  }

  /** Writes finished attempts, those that finish meanwhile together in the next transaction. */
  function record(): Promise<void> {
    recording ??= (async () => {
      while (finished.length > 0) {
        const batch = finished.splice(0)
        try {
          await webhooks.record(
            owner,
            batch.map((item) => item.outcome),
          )
        } catch (err) {
          // Still leased: once the lease runs out they are claimed and sent again.
          logger.error({ err, deliveries: batch.length }, 'recording webhook attempts failed')
        }
        for (const { webhookId, outcome } of batch) {
          active -= 1
          const left = activePerWebhook.get(webhookId)! - 1
          if (left === 0) activePerWebhook.delete(webhookId)
          else activePerWebhook.set(webhookId, left)
          const result = outcome.state === 'pending' ? 'retry' : outcome.state
          metrics?.webhookAttempts.inc({ outcome: result })
        }
        wake()
      }
      recording = null
    })()
    return recording
  }

  async function attempt(queue: DueWebhook, claim: Claim): Promise<AttemptOutcome> {
    const number = claim.attempts + 1
    const attemptedAt = clock()
    const started = performance.now()
    const event = await eventRepository.at(claim.tenant_id, claim.seq)
    let statusCode: number | null = null
    let error: string | null = null
    if (!event) error = 'the event is no longer stored'
    else {
      try {
        statusCode = await post(queue, claim, JSON.stringify(event))
        if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`
      } catch (err) {
        error = describeFailure(err)
      }
    }
    const durationMs = Math.round(performance.now() - started)
    metrics?.webhookAttemptSeconds.observe(durationMs / 1000)

    const final = !event || number >= (claim.max_attempts ?? maxAttempts)
    const state = error === null ? 'delivered' : final ? 'dead' : 'pending'
    const nextAttemptAt =
      state === 'pending' ? new Date(clock().getTime() + retryDelay(number, backoff, random)) : null
    if (state === 'dead') {
      logger.warn(
        { delivery: claim.id, webhook: queue.id, attempts: number, error },
        'webhook delivery failed for good',
      )
    } else if (state === 'pending') {
      logger.debug(
        { delivery: claim.id, webhook: queue.id, attempt: number, error },
        'webhook delivery failed',
      )
    }
    return {
      deliveryId: claim.id,
      attempt: number,
      state,
      statusCode,
      error,
      durationMs,
      attemptedAt,
      nextAttemptAt,
    }
  }

  async function post(queue: DueWebhook, claim: Claim, body: string): Promise<number> {
    const res = await fetch(queue.url, {
      method: 'POST',
      body,
      // A redirect is an answer like any other non-2xx: following it could send the event elsewhere.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'status-tracker-webhooks',
        'X-Signature': signatureOf(queue.secret, body),
        'X-Delivery-Id': claim.id,
        'X-Event-Id': claim.event_id,
        'X-Event-Type': claim.event_type,
      },
    })
    // The answer's body is never read; cancelling it frees the connection.
    await res.body?.cancel().catch(() => undefined)
    return res.status
  }

  // Duck-typed: the timeout is a DOMException, which is not an Error in every realm.
  function describeFailure(err: unknown): string {
    const { name, message, cause } = err as {
      name?: unknown
      message?: unknown
      cause?: { code?: unknown; message?: unknown }
    }
    if (name === 'TimeoutError') return `no answer within ${timeoutMs} ms`
    if (typeof cause?.code === 'string') return `request failed: ${cause.code}`
    if (typeof cause?.message === 'string') return `request failed: ${cause.message}`
    return typeof message === 'string' ? message : String(err)
  }

  return {
    /** Starts sending: at once, then whenever woken or a delivery falls due, and every `pollMs`. */
    start(): void {
      if (started || stopped) return
      started = true
      wake()
    },

    /** Deliveries were enqueued or requeued: look now rather than at the next poll. */
    wake,

    stats() {
      return { in_flight: active }
    },

    /**
     * Stops claiming and waits for the requests in flight (each bounded by the timeout) and for their
     * attempts to be recorded; pending deliveries stay pending for the next start. Idempotent.
     */
    stop(): Promise<void> {
      stopping ??= (async () => {
        stopped = true
        if (timer) clearTimeout(timer)
        await looking.idle()
        await Promise.all(sending)
        await recording
      })()
      return stopping
    },
  }
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>
