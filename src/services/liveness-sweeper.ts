import type { Logger } from 'pino'
import type { StatusRepository } from '../db/status-repository'
import { AppError } from '../errors'
import type { Metrics } from '../metrics'
import { coalescedTask } from './coalesced-task'
import type { StatusUpdater } from './status-updater'

export interface SweeperOptions {
  statusRepository: Pick<StatusRepository, 'due'>
  updater: Pick<StatusUpdater, 'later'>
  logger: Logger
  clock: () => Date
  metrics?: Metrics
  /** How often it looks: a due status is swept within about this (SPEC §11: within 2 s). */
  intervalMs: number
  /** Due statuses read at a time. */
  batchSize: number
  /**
   * Due statuses handed to the writer at a time: a crowd of them is written a slice after another, so a
   * producer's write queued meanwhile waits for one small flush rather than for the whole sweep.
   */
  sliceSize?: number
  /**
   * At most this many statuses swept a second: a crowd that falls due at once is spread over a few
   * seconds (10,000 at 3,000/s take 3.3 s) so that producers' writes keep their latency meanwhile.
   */
  maxPerSecond?: number
}

/**
 * Notices work that stopped reporting (SPEC §11). Every `intervalMs` it reads the statuses that are due
 * (their stored `due_at` has passed: through its index, never a scan) and hands each to the one writer
 * as a `sweep` command, which applies the lapse through the same rules as any other change, under the
 * writer's lock on the status. That is what makes a sweep exactly-once with several instances: an
 * instance that finds the status already swept, or written meanwhile (a heartbeat moves its due time),
 * writes nothing. A crashed instance's due statuses stay due in the table for the next look of any.
 */
export function createLivenessSweeper(options: SweeperOptions) {
  const {
    statusRepository,
    updater,
    logger,
    clock,
    metrics,
    intervalMs,
    batchSize,
    sliceSize = 50,
    maxPerSecond = 3_000,
  } = options
  const sliceMs = (1000 * sliceSize) / maxPerSecond
  let timer: NodeJS.Timeout | null = null
  let stopped = false
  const counts = { swept: 0, passes: 0 }

  async function sweepOnce(): Promise<void> {
    counts.passes += 1
    // Statuses already handed over in this pass are not handed over again (a page may repeat them
    // while the writer is still writing the previous one).
    const seen = new Set<string>()
    for (;;) {
      const now = clock()
      const due = await statusRepository.due(now, batchSize)
      const fresh = due.filter(({ tenantId, statusId }) => !seen.has(`${tenantId}\u0000${statusId}`))
      if (fresh.length === 0) return
      const oldest = fresh[0]!.dueAt
      metrics?.sweepLagSeconds.observe(Math.max(0, now.getTime() - oldest.getTime()) / 1000)
      for (let start = 0; start < fresh.length && !stopped; start += sliceSize) {
        const began = performance.now()
        const results = await Promise.all(
          fresh.slice(start, start + sliceSize).map(({ tenantId, statusId }) => {
            seen.add(`${tenantId}\u0000${statusId}`)
            return updater.later(tenantId, statusId, { type: 'sweep' }).then(
              ({ result }) => result,
              (err: unknown) => {
                // Deleted, or finished, meanwhile: nothing to sweep. Anything else is worth a line.
                if (!(err instanceof AppError)) logger.error({ err, statusId }, 'sweeping a status failed')
                return null
              },
            )
          }),
        )
        for (const record of results) {
          if (!record) continue
          counts.swept += 1
          metrics?.swept.inc({ reason: record.error_info?.code ?? 'unknown' })
        }
        // The slice's share of a second, less what writing it took: the writer is free for the rest.
        const rest = sliceMs - (performance.now() - began)
        if (rest > 0 && start + sliceSize < fresh.length)
          await new Promise((resolve) => setTimeout(resolve, rest))
      }
      if (due.length < batchSize || stopped) return
    }
  }

  const task = coalescedTask(sweepOnce, {
    onError: (err) => logger.error({ err }, 'liveness sweep failed'),
    canRun: () => !stopped,
  })

  return {
    start(): void {
      if (timer || stopped) return
      timer = setInterval(() => task.run(), intervalMs)
      timer.unref()
      task.run()
    },
    /** One pass now (tests with an injected clock), resolving when it is done. */
    async sweep(): Promise<void> {
      await task.idle()
      await sweepOnce()
    },
    stats: () => ({ ...counts }),
    /** Stops looking and waits for a pass under way. Idempotent. */
    async stop(): Promise<void> {
      stopped = true
      if (timer) clearInterval(timer)
      timer = null
      await task.idle()
    },
  }
}

export type LivenessSweeper = ReturnType<typeof createLivenessSweeper>
