import type { ErrorInfo, StatusRecord, StoredStatus } from './status-record'
import { isStartState, isTerminal, type StatusValue } from './transitions'

// SPEC §11: work that stops reporting. A status's due times follow from its record alone and are
// stored beside it (`stalls_at`, `overdue_at`, `due_at`), so the sweeper finds what is due through an
// index and the `stalled` and `overdue` filters are plain comparisons.

export const LIVENESS_CODES = ['heartbeat-timeout', 'start-timeout', 'deadline-exceeded'] as const
export type LivenessCode = (typeof LIVENESS_CODES)[number]

const waitsToStart = (status: StatusValue) => status === 'pending' || status === 'retry_pending'

type Timed = Pick<
  StatusRecord,
  'status' | 'heartbeat_timeout_s' | 'start_by' | 'deadline_at' | 'last_heartbeat_at' | 'created_at'
>

/** When the heartbeat lapses: only a `starting` or `processing` status with a timeout has one. */
export function stallsAt(s: Timed): Date | null {
  if (s.heartbeat_timeout_s === null || !isStartState(s.status)) return null
  const last = s.last_heartbeat_at ?? s.created_at
  return new Date(last.getTime() + s.heartbeat_timeout_s * 1000)
}

/** When it is overdue: the deadline of a live status, or the `start_by` of one still waiting to start. */
export function overdueAt(s: Timed): Date | null {
  if (isTerminal(s.status)) return null
  const start = waitsToStart(s.status) ? s.start_by : null
  return earliest(s.deadline_at, start)
}

function earliest(a: Date | null, b: Date | null): Date | null {
  if (a === null) return b
  if (b === null) return a
  return a <= b ? a : b
}

/** Sets the stored due times from the record: called on every state a rule produces. */
export function setDueTimes(s: StoredStatus): StoredStatus {
  s.stalls_at = stallsAt(s)
  s.overdue_at = overdueAt(s)
  s.due_at = earliest(s.stalls_at, s.overdue_at)
  return s
}

/** The `stalled` filter: its heartbeat has lapsed at `now` (and the sweeper has not yet acted). */
export function isStalled(s: Timed, now: Date): boolean {
  const at = stallsAt(s)
  return at !== null && at <= now
}

/** The `overdue` filter: past its deadline, or past `start_by` without having started. */
export function isOverdue(s: Timed, now: Date): boolean {
  const at = overdueAt(s)
  return at !== null && at <= now
}

/** What the sweeper records for a due status: the error, and whether a retry is allowed. */
export interface Lapse {
  error: ErrorInfo & { code: LivenessCode }
  retry: boolean
}

/** Why `s` is due at `now`, if it is: the deadline first, then `start_by`, then the heartbeat. */
export function lapseOf(s: StoredStatus, now: Date): Lapse | null {
  if (isTerminal(s.status)) return null
  if (s.deadline_at !== null && s.deadline_at <= now) {
    const message = `Not finished by its deadline, ${s.deadline_at.toISOString()}`
    return { error: { code: 'deadline-exceeded', message }, retry: false }
  }
  if (waitsToStart(s.status) && s.start_by !== null && s.start_by <= now) {
    const message = `Not started by ${s.start_by.toISOString()}`
    return { error: { code: 'start-timeout', message }, retry: false }
  }
  if (isStalled(s, now)) {
    const last = (s.last_heartbeat_at ?? s.created_at).toISOString()
    const message = `No heartbeat for ${s.heartbeat_timeout_s} s (the last at ${last})`
    return { error: { code: 'heartbeat-timeout', message }, retry: true }
  }
  return null
}
