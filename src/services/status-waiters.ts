import type { StatusRecord } from '../domain/status-record'
import { isTerminal } from '../domain/transitions'
import { statusNotFound, tooManyWaiters } from '../errors'
import type { EventSink } from './event-sink'

export type WaitUntil = 'terminal' | 'change'

export interface WaitRequest {
  tenantId: string
  /** Whose waiters these are: at most `maxPerKey` at once. */
  keyId: string
  statusId: string
  until: WaitUntil
  /** `change`: wait for a version above this one (default: the version read now). */
  afterVersion?: number
  timeoutMs: number
}

/** `timedOut` also when the wait was ended early by shutdown: the condition did not hold. */
export interface WaitResult {
  record: StatusRecord
  timedOut: boolean
}

interface Waiter {
  holds: (record: StatusRecord) => boolean
  /** The newest record seen: the one read at the start, then each event's. */
  latest: StatusRecord | null
  settle: (outcome: { record: StatusRecord; timedOut: boolean } | { gone: true }) => void
}

export interface WaitersOptions {
  /** The committed record now (the writer's store). */
  read: (tenantId: string, statusId: string) => Promise<StatusRecord | null>
  maxPerKey: number
}

/**
 * Long polls on one status (SPEC §11): `GET /api/status/:id?wait=terminal|change`. A waiter is woken
 * by the event feed, as a sink of the event manager, so a write through any instance wakes it; it is
 * registered before the record is read, so no event between the read and the registration is missed.
 */
export function createStatusWaiters({ read, maxPerKey }: WaitersOptions) {
  /** tenant → status → waiters */
  const waiting = new Map<string, Map<string, Set<Waiter>>>()
  const perKey = new Map<string, number>()
  let stopped = false

  const sink: EventSink = {
    name: 'waiters',
    durable: false,
    wants: (tenantId) => waiting.has(tenantId),
    deliver(tenantId, batch) {
      const statuses = waiting.get(tenantId)
      if (!statuses) return
      for (const event of batch) {
        const set = statuses.get(event.status_id)
        if (!set) continue
        // A log changes no version: nothing to wake a waiter.
        if (event.type === 'status.log') continue
        for (const waiter of [...set]) {
          if (event.type === 'status.deleted') waiter.settle({ gone: true })
          else {
            // An event committed before the waiter's read may still be on its way: never step back.
            if (!waiter.latest || event.version >= waiter.latest.version) waiter.latest = event.status
            if (waiter.holds(event.status)) waiter.settle({ record: event.status, timedOut: false })
          }
        }
      }
    },
  }

  async function wait(request: WaitRequest): Promise<WaitResult> {
    const { tenantId, keyId, statusId, until, timeoutMs } = request
    if (stopped) {
      const record = await read(tenantId, statusId)
      if (!record) throw statusNotFound(statusId)
      return { record, timedOut: true }
    }
    const held = perKey.get(keyId) ?? 0
    if (held >= maxPerKey) throw tooManyWaiters(maxPerKey)
    perKey.set(keyId, held + 1)

    let afterVersion = request.afterVersion
    let timer: NodeJS.Timeout | undefined
    let settle!: Waiter['settle']
    const outcome = new Promise<Parameters<Waiter['settle']>[0]>((resolve) => (settle = resolve))
    const statuses = waiting.get(tenantId) ?? new Map<string, Set<Waiter>>()
    waiting.set(tenantId, statuses)
    const set = statuses.get(statusId) ?? new Set<Waiter>()
    statuses.set(statusId, set)
    const waiter: Waiter = {
      holds: (record) =>
        until === 'terminal' ? isTerminal(record.status) : record.version > (afterVersion ?? Infinity),
      latest: null,
      settle: (result) => {
        if (!set.delete(waiter)) return
        clearTimeout(timer)
        if (set.size === 0) statuses.delete(statusId)
        if (statuses.size === 0) waiting.delete(tenantId)
        const left = perKey.get(keyId)! - 1
        if (left === 0) perKey.delete(keyId)
        else perKey.set(keyId, left)
        settle(result)
      },
    }
    set.add(waiter)

    try {
      const current = await read(tenantId, statusId)
      if (!current) waiter.settle({ gone: true })
      else {
        afterVersion ??= current.version
        // An event delivered during the read is newer than what it returned.
        if (!waiter.latest || waiter.latest.version < current.version) waiter.latest = current
        if (waiter.holds(waiter.latest)) waiter.settle({ record: waiter.latest, timedOut: false })
        // Shutdown began while it read: answered at once, as the others were.
        else if (stopped) waiter.settle({ record: waiter.latest, timedOut: true })
        else
          timer = setTimeout(() => {
            // The record as it now is; the last one seen if the store cannot say.
            void read(tenantId, statusId)
              .catch(() => waiter.latest)
              .then((record) => waiter.settle(record ? { record, timedOut: true } : { gone: true }))
          }, timeoutMs)
      }
    } catch (err) {
      waiter.settle({ gone: true })
      throw err
    }
    const result = await outcome
    if ('gone' in result) throw statusNotFound(statusId)
    return result
  }

  return {
    sink,
    wait,
    /** Waiting reads now (for the metrics). */
    count: () => [...perKey.values()].reduce((n, held) => n + held, 0),
    /**
     * Shutdown: every waiter is answered now with the last record it saw, as a timeout (the condition
     * did not hold), rather than dropped with its connection; later waits answer at once.
     */
    releaseAll(): void {
      stopped = true
      for (const statuses of [...waiting.values()])
        for (const set of [...statuses.values()])
          for (const waiter of [...set])
            // One still reading its record answers when it has it.
            if (waiter.latest) waiter.settle({ record: waiter.latest, timedOut: true })
    },
  }
}

export type StatusWaiters = ReturnType<typeof createStatusWaiters>
