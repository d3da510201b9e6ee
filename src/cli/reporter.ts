import { StatusTrackerError, StatusTrackerNetworkError } from '../client'
import type { ErrorInfo, LogLineInput, StatusCreateInput, StatusRecord, StatusTrackerClient } from '../client'
import { isTerminal } from './format'

/** How `run` ends its status. */
export type Outcome =
  { state: 'completed' } | { state: 'failed'; error_info: ErrorInfo } | { state: 'cancelled' }

export interface ReporterOptions {
  client: StatusTrackerClient
  statusId: string
  /** The create body besides `status_id` (kind, parent, heartbeat timeout). */
  create: Omit<StatusCreateInput, 'status_id'>
  /** Heartbeats this often when nothing else was written; default: a third of the status's timeout, else 30 s. */
  heartbeatMs?: number
  /** Where it says that the service is unreachable, refused something, or gave up. */
  say(line: string): void
  /** The status ended elsewhere while the command ran (cancelled from the dashboard, say). */
  onEndedElsewhere?(record: StatusRecord): void
}

/** Lines kept for sending at most; beyond, the oldest are dropped and a line says how many. */
const MAX_WAITING_LINES = 1_000
/** One append carries at most this many lines (SPEC §14), and appends go at most this often: 1,000 lines a second. */
const LINES_PER_APPEND = 100
const APPEND_EVERY_MS = 100
/** Progress taken from the output is sent at most this often (the latest value wins). */
const PROGRESS_EVERY_MS = 500
const RETRY_BASE_MS = 500
const RETRY_MAX_MS = 5_000

/** A failure worth trying again: the network, the service overloaded or failing. */
const transient = (err: unknown) =>
  err instanceof StatusTrackerNetworkError ||
  (err instanceof StatusTrackerError && (err.status >= 500 || err.status === 429 || err.status === 408))

/**
 * Reports a command's run to the service in the background: create (or take) the status, mark it
 * `processing`, then its output lines, progress and heartbeats, then how it ended, in that order. Nothing
 * waits for the service: every call is made by one loop that retries what failed for a passing reason
 * (the network, a 5xx, a 429) with backoff, saying so once, while lines queue (the oldest dropped beyond
 * 1,000, and sent at most 1,000 a second) and progress coalesces to its latest value.
 */
export function createReporter(options: ReporterOptions) {
  const { client, statusId: id, say } = options
  let stage = 'create' as 'create' | 'start' | 'running' | 'done'
  let record: StatusRecord | undefined
  let heartbeatMs = options.heartbeatMs
  const waiting: LogLineInput[] = []
  let dropped = 0
  let droppedInAll = 0
  let progress: { progress_percentage: number; message?: string } | undefined
  let outcome: Outcome | undefined
  let lastWriteAt = 0
  let lastAppendAt = 0
  let lastProgressAt = 0
  let failures = 0
  let outageSaid = false
  let wake: (() => void) | undefined
  let finished!: () => void
  const done = new Promise<void>((resolve) => (finished = resolve))

  const kick = () => wake?.()
  const end = (why?: string): undefined => {
    if (why) say(why)
    stage = 'done'
    finished()
    return undefined
  }

  /** The next call due, or the time it will be due. */
  async function step(now: number): Promise<number | undefined> {
    if (stage === 'create') {
      try {
        record = await client.statuses.create({ status_id: id, ...options.create })
      } catch (err) {
        if (!(err instanceof StatusTrackerError && err.code === 'status-already-exists')) throw err
        record = await client.statuses.get(id)
        if (isTerminal(record))
          return end(`status-tracker: status ${id} is already ${record.status}; not reporting`)
      }
      heartbeatMs ??= Math.min(30_000, Math.max(1_000, ((record.heartbeat_timeout_s ?? 90) * 1000) / 3))
      stage = 'start'
      return now
    }
    if (stage === 'start') {
      if (record!.status !== 'processing')
        record = await client.statuses.update(id, { new_status: 'processing' })
      lastWriteAt = Date.now()
      stage = 'running'
      return now
    }
    if (waiting.length > 0 || dropped > 0) {
      const due = lastAppendAt + APPEND_EVERY_MS
      if (now >= due || outcome) {
        // Taken out while on the way (lines keep coming meanwhile), and put back in front if it fails.
        const lost = dropped
        const note: LogLineInput[] =
          lost > 0
            ? [{ level: 'warn', message: `status-tracker: ${lost} lines dropped (output too fast)` }]
            : []
        const taken = waiting.splice(0, LINES_PER_APPEND - note.length)
        dropped = 0
        try {
          await client.logs.append(id, [...note, ...taken])
        } catch (err) {
          dropped += lost
          waiting.unshift(...taken)
          while (waiting.length > MAX_WAITING_LINES) {
            waiting.shift()
            dropped += 1
          }
          throw err
        }
        lastAppendAt = Date.now()
        return now
      }
      if (!progress) return due
    }
    if (progress) {
      const due = lastProgressAt + PROGRESS_EVERY_MS
      if (now >= due || outcome) {
        const sent = progress
        await client.statuses.heartbeat(id, sent)
        if (progress === sent) progress = undefined
        lastProgressAt = lastWriteAt = Date.now()
        return now
      }
      return due
    }
    if (outcome) {
      if (outcome.state === 'completed') await client.statuses.update(id, { new_status: 'completed' })
      else if (outcome.state === 'failed')
        await client.statuses.recordError(id, { error_info: outcome.error_info, should_retry: false })
      else await client.statuses.cancel(id)
      return end()
    }
    if (now >= lastWriteAt + heartbeatMs!) {
      await client.statuses.heartbeat(id)
      lastWriteAt = Date.now()
      return now
    }
    return lastWriteAt + heartbeatMs!
  }

  /** A refusal: a status that ended elsewhere stops the reporting; anything else loses only that call. */
  async function refused(err: StatusTrackerError): Promise<void> {
    if (err.status === 401 || err.status === 403) {
      return end(`status-tracker: the service refused the token (${err.status} ${err.code}); not reporting`)
    }
    if (err.code === 'status-not-found') return end(`status-tracker: status ${id} was deleted; not reporting`)
    if (stage === 'running' && err.status === 409) {
      const now = await client.statuses.get(id).catch(() => undefined)
      if (now && isTerminal(now)) {
        end(`status-tracker: status ${id} became ${now.status} elsewhere; not reporting`)
        options.onEndedElsewhere?.(now)
        return
      }
    }
    say(`status-tracker: the service refused a report (${err.status} ${err.code}: ${err.detail})`)
    if (stage !== 'running' || outcome) return end()
    waiting.length = 0
    progress = undefined
  }

  void (async () => {
    while (stage !== 'done') {
      try {
        const due = await step(Date.now())
        if (failures > 0 && outageSaid) say(`status-tracker: reporting to the service again`)
        failures = 0
        outageSaid = false
        if (due !== undefined && due > Date.now()) await pause(due - Date.now())
      } catch (err) {
        if (transient(err)) {
          if (!outageSaid)
            say(
              `status-tracker: the service is unreachable (${(err as Error).message}); retrying in the background`,
            )
          outageSaid = true
          await pause(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** failures++))
        } else if (err instanceof StatusTrackerError) await refused(err)
        else end(`status-tracker: ${(err as Error).message}; not reporting`)
      }
    }
  })()

  /** Waits `ms`, or less when something new arrives. */
  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined
        resolve()
      }, ms)
      wake = () => {
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
    })
  }

  return {
    /** A line of the command's output. */
    line(line: LogLineInput): void {
      if (stage === 'done') return
      waiting.push(line)
      if (waiting.length > MAX_WAITING_LINES) {
        waiting.shift()
        dropped += 1
        droppedInAll += 1
      }
      if (waiting.length === 1) kick()
    },
    progress(value: { progress_percentage: number; message?: string }): void {
      if (stage === 'done') return
      progress = value
      kick()
    },
    /** Sends what is queued and then `how`; resolves when that is done, or after `timeoutMs` in any case. */
    async finish(how: Outcome, timeoutMs: number): Promise<void> {
      if (droppedInAll > 0)
        say(`status-tracker: ${droppedInAll} lines of output were not sent (faster than 1,000 a second)`)
      outcome = how
      kick()
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)))
      const result = await Promise.race([done, late])
      clearTimeout(timer)
      if (result === 'late') {
        end(`status-tracker: could not report the end of ${id} within ${timeoutMs / 1000} s; giving up`)
        kick()
      }
    },
  }
}
