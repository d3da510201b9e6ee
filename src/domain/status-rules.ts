import { invalidTransition, statusTerminal, validationFailed } from '../errors'
import { allTerminal, childDepth, childFailed, childStarted, summarise, type ChildMove } from './groups'
import { lapseOf, setDueTimes } from './liveness'
import {
  HIDDEN_FIELDS,
  type ChildFailurePolicy,
  type Changes,
  type ErrorInfo,
  type ChangeEventType,
  type LogLine,
  type StoredStatus,
} from './status-record'
import { canMove, isStartState, isTerminal, type PriorityValue, type StatusValue } from './transitions'

export interface CreateInput {
  status_id: string
  kind?: string
  resource_id?: string
  status?: StatusValue
  priority?: PriorityValue
  progress_percentage?: number
  message?: string
  steps_completed?: number
  steps_total?: number
  max_retries?: number
  metadata?: Record<string, unknown>
  tags?: string[]
  heartbeat_timeout_s?: number
  start_by?: Date
  deadline_at?: Date
  parent_id?: string
  weight?: number
  on_child_failure?: ChildFailurePolicy
  complete_with_children?: boolean
}

export interface UpdateInput {
  new_status?: StatusValue
  progress_percentage?: number
  steps_completed?: number
  steps_total?: number
  message?: string
  metadata?: Record<string, unknown>
  tags?: string[]
  priority?: PriorityValue
  reported_at?: Date
}

/** One shape for every change of a status: the state it leaves and the event it makes. */
export interface Change {
  next: StoredStatus
  changes: Changes
  type: ChangeEventType
}

const PROGRESS_FIELDS = new Set([
  'progress_percentage',
  'steps_completed',
  'steps_total',
  'message',
  'estimated_completion_at',
  'children',
])
// A field whose value follows from the others: reported in `changes`, but never an update on its own.
const DERIVED_FIELDS = new Set(['estimated_completion_at'])

const round2 = (n: number) => Math.round(n * 100) / 100

function stepsProgress(done: number | null, total: number | null): number | undefined {
  if (done === null || total === null || total === 0) return undefined
  return round2((done / total) * 100)
}

/** Estimates further away than this are no estimate: 100 years. */
export const MAX_ESTIMATE_MS = 100 * 365.25 * 24 * 3600 * 1000

/**
 * Average rate since the work started (or was created), projected to 100 %. Simple and monotone in
 * elapsed time; a live status with no progress yet has no estimate.
 */
export function estimateCompletion(s: StoredStatus, now: Date): Date | null {
  if (isTerminal(s.status)) return null
  const p = s.progress_percentage
  // Stryker disable next-line EqualityOperator,ConditionalExpression: at p = 0 the projection is infinite, which the 100-year bound below turns into null as well
  if (p <= 0 || p >= 100) return null
  const elapsed = now.getTime() - (s.started_at ?? s.created_at).getTime()
  if (elapsed <= 0) return null
  const remaining = Math.round((elapsed * (100 - p)) / p)
  // A progress so small that the projection lies centuries away estimates nothing (and would not fit a Date).
  return remaining <= MAX_ESTIMATE_MS ? new Date(now.getTime() + remaining) : null
}

function checkSteps(done: number | null, total: number | null) {
  // Stryker disable next-line ConditionalExpression: the null tests only read clearly; `null > n` and `n > null` are false for n >= 0 anyway
  if (done !== null && total !== null && done > total) {
    throw validationFailed([{ path: 'steps_completed', message: 'must not exceed steps_total' }])
  }
}

/** Sets the timestamps and forced values that follow from entering `status`. */
function enter(s: StoredStatus, status: StatusValue, now: Date): void {
  s.status = status
  if (isStartState(status) && s.started_at === null) s.started_at = now
  if (isTerminal(status)) s.completed_at = now
  if (status === 'completed') s.progress_percentage = 100
}

/** `start_by` and `deadline_at` must lie ahead: a time already past could only fail the status at once. */
function checkAhead(input: CreateInput, now: Date) {
  const past = (['start_by', 'deadline_at'] as const).filter((field) => {
    const at = input[field]
    return at !== undefined && at <= now
  })
  if (past.length > 0)
    throw validationFailed(
      past.map((path) => ({ path, message: `must be in the future (now is ${now.toISOString()})` })),
    )
}

/** A new status; `depth` is its level under its parent (1 for a root), which the writer checked. */
export function createStatus(input: CreateInput, now: Date, depth = 1): StoredStatus {
  const steps_completed = input.steps_completed ?? null
  const steps_total = input.steps_total ?? null
  checkSteps(steps_completed, steps_total)
  checkAhead(input, now)
  const s: StoredStatus = {
    status_id: input.status_id,
    kind: input.kind ?? null,
    resource_id: input.resource_id ?? null,
    // Stryker disable next-line StringLiteral: enter() below sets the starting status, whatever this placeholder says
    status: 'pending',
    priority: input.priority ?? 'normal',
    progress_percentage: input.progress_percentage ?? stepsProgress(steps_completed, steps_total) ?? 0,
    message: input.message ?? null,
    steps_completed,
    steps_total,
    error_info: null,
    retry_count: 0,
    max_retries: input.max_retries ?? 3,
    metadata: input.metadata ?? {},
    tags: input.tags ?? [],
    version: 1,
    created_at: now,
    updated_at: now,
    started_at: null,
    completed_at: null,
    estimated_completion_at: null,
    heartbeat_timeout_s: input.heartbeat_timeout_s ?? null,
    start_by: input.start_by ?? null,
    deadline_at: input.deadline_at ?? null,
    last_heartbeat_at: null,
    last_reported_at: null,
    stalls_at: null,
    overdue_at: null,
    due_at: null,
    log_lines: 0,
    parent_id: input.parent_id ?? null,
    weight: input.weight ?? 1,
    on_child_failure: input.on_child_failure ?? 'continue',
    complete_with_children: input.complete_with_children ?? false,
    children: null,
    depth,
    children_tally: null,
  }
  enter(s, input.status ?? 'pending', now)
  s.estimated_completion_at = estimateCompletion(s, now)
  return setDueTimes(s)
}

/**
 * A new status and its `status.created` event. `parent` is the state of its `parent_id` (undefined when
 * there is no such status), which must be able to take a child (SPEC §12).
 */
export function applyCreate(input: CreateInput, now: Date, parent?: StoredStatus | null): Change {
  const depth = input.parent_id === undefined ? 1 : childDepth(input.status_id, input.parent_id, parent)
  const next = createStatus(input, now, depth)
  return { next, changes: {}, type: 'status.created' }
}

const childFailedError = (childId: string | null | undefined): ErrorInfo => ({
  code: 'child-failed',
  message: childId ? `Child ${childId} failed` : 'A child failed',
  ...(childId && { details: { status_id: childId } }),
})

/**
 * SPEC §12: a parent after its children's `moves` in one flush: its summary, then its policies (when it
 * is not terminal) in this order: `on_child_failure: fail` and a child that failed fails it;
 * `complete_with_children` and every child terminal completes it (failed, when a child failed), through
 * `processing` when it had not started; a child that started starts a `pending` or `retry_pending` one.
 * The roll-up is the service's own write: no heartbeat. Null when nothing changed.
 */
export function applyRollUp(
  current: StoredStatus,
  moves: ChildMove[],
  now: Date,
): { next: StoredStatus; change: Change | null } {
  const next: StoredStatus = { ...current, ...summarise(current, moves) }
  if (!isTerminal(current.status)) {
    const failedNow = childFailed(moves)
    const waiting = current.status === 'pending' || current.status === 'retry_pending'
    if (current.on_child_failure === 'fail' && failedNow !== undefined) {
      next.error_info = childFailedError(failedNow)
      enter(next, 'failed', now)
    } else if (next.complete_with_children && allTerminal(next.children)) {
      if (waiting) enter(next, 'processing', now)
      if (next.children!.by_status.failed) {
        next.error_info = childFailedError(next.children_tally!.failed)
        enter(next, 'failed', now)
      } else enter(next, 'completed', now)
    } else if (waiting && childStarted(moves)) enter(next, 'processing', now)
  }
  const change = finish(
    current,
    next,
    now,
    (changed) =>
      changed.every((field) => PROGRESS_FIELDS.has(field)) ? 'status.progress' : 'status.updated',
    false,
  )
  // Without a change, the sums may still have moved (a progress too small to show): they are kept.
  return { next, change }
}

/**
 * Not changes: what is not part of the record, and the heartbeat, which every write moves (a change is
 * what the write did, not that it was written). version and updated_at are equal on both sides in
 * diff(): finish() moves them after.
 */
const UNCHANGED = new Set<string>([...HIDDEN_FIELDS, 'last_heartbeat_at'])

function diff(before: StoredStatus, after: StoredStatus): Changes {
  const changes: Changes = {}
  for (const key of Object.keys(after) as (keyof StoredStatus)[]) {
    if (UNCHANGED.has(key)) continue
    const [a, b] = [before[key], after[key]]
    if (a === b) continue
    // Objects (metadata, tags, error_info, dates) compare by value.
    // Stryker disable next-line ConditionalExpression,LogicalOperator: two unequal primitives also differ as JSON; the typeof tests only spare them the stringify
    if (typeof a !== 'object' || typeof b !== 'object' || JSON.stringify(a) !== JSON.stringify(b))
      changes[key] = [a, b]
  }
  return changes
}

/** Every accepted write of a producer counts as its heartbeat (SPEC §11); the due times follow. */
function beat(s: StoredStatus, now: Date): StoredStatus {
  s.last_heartbeat_at = now
  return setDueTimes(s)
}

function finish(
  before: StoredStatus,
  next: StoredStatus,
  now: Date,
  typeOf: (changed: string[]) => ChangeEventType,
  heartbeat = true,
): Change | null {
  next.estimated_completion_at = estimateCompletion(next, now)
  if (heartbeat) beat(next, now)
  else setDueTimes(next)
  const changes = diff(before, next)
  const changed = Object.keys(changes)
  if (changed.every((field) => DERIVED_FIELDS.has(field))) return null
  next.version = before.version + 1
  next.updated_at = now
  return { next, changes, type: typeOf(changed) }
}

/** Applies a producer's update; returns null when it changes nothing. Throws on an illegal change. */
export function applyUpdate(current: StoredStatus, input: UpdateInput, now: Date): Change | null {
  const next: StoredStatus = { ...current }
  const target = input.new_status ?? current.status

  if (isTerminal(current.status)) {
    if (target !== current.status) throw invalidTransition(current.status, target)
    const touchesProgress =
      (input.progress_percentage !== undefined &&
        input.progress_percentage !== current.progress_percentage) ||
      (input.steps_completed !== undefined && input.steps_completed !== current.steps_completed) ||
      (input.steps_total !== undefined && input.steps_total !== current.steps_total) ||
      (input.message !== undefined && input.message !== current.message)
    if (touchesProgress) throw statusTerminal(current.status_id, current.status)
  } else if (!canMove(current.status, target)) {
    throw invalidTransition(current.status, target)
  }

  if (input.steps_completed !== undefined) next.steps_completed = input.steps_completed
  if (input.steps_total !== undefined) next.steps_total = input.steps_total
  checkSteps(next.steps_completed, next.steps_total)
  const stepsGiven = input.steps_completed !== undefined || input.steps_total !== undefined
  const derived = stepsGiven ? stepsProgress(next.steps_completed, next.steps_total) : undefined
  next.progress_percentage = input.progress_percentage ?? derived ?? current.progress_percentage
  if (input.message !== undefined) next.message = input.message
  if (input.metadata !== undefined) next.metadata = input.metadata
  if (input.tags !== undefined) next.tags = input.tags
  if (input.priority !== undefined) next.priority = input.priority
  if (input.reported_at !== undefined) next.last_reported_at = input.reported_at
  // Entering completed sets 100 %; a record that stays completed already has it (its progress cannot move).
  if (target !== current.status) enter(next, target, now)

  return finish(current, next, now, (changed) => {
    if (next.status !== current.status)
      return next.status === 'cancelled' ? 'status.cancelled' : 'status.updated'
    return changed.every((field) => PROGRESS_FIELDS.has(field)) ? 'status.progress' : 'status.updated'
  })
}

/** SPEC §1 record_error: one more retry if allowed and wanted, otherwise failed. */
export function applyError(current: StoredStatus, error: ErrorInfo, shouldRetry: boolean, now: Date): Change {
  return errorChange(current, error, shouldRetry, now, true)
}

function errorChange(
  current: StoredStatus,
  error: ErrorInfo,
  shouldRetry: boolean,
  now: Date,
  heartbeat: boolean,
): Change {
  if (isTerminal(current.status)) throw statusTerminal(current.status_id, current.status)
  const retryCount = current.retry_count + 1
  const target: StatusValue = shouldRetry && retryCount <= current.max_retries ? 'retry_pending' : 'failed'
  if (!canMove(current.status, target)) throw invalidTransition(current.status, target)
  const next: StoredStatus = { ...current, error_info: error, retry_count: retryCount }
  // Stryker disable next-line ConditionalExpression: an error always moves the status (retry_pending to retry_pending is no transition, and terminal ones were refused above)
  if (target !== current.status) enter(next, target, now)
  // An error always changes retry_count, so finish never returns null here.
  return finish(current, next, now, () => 'status.error', heartbeat)!
}

/**
 * The sweeper's look at a status it found due (SPEC §11): the error its lapse records, as record_error
 * does, or null when it is not due (any more) at `now`, because a write came first. The service's own
 * write is no heartbeat.
 */
export function applySweep(current: StoredStatus, now: Date): Change | null {
  const lapse = lapseOf(current, now)
  return lapse && errorChange(current, lapse.error, lapse.retry, now, false)
}

/** A heartbeat, with a progress or message update or bare (then no version and no event). */
export function applyHeartbeat(
  current: StoredStatus,
  input: Pick<UpdateInput, 'progress_percentage' | 'message'>,
  now: Date,
): Report {
  if (isTerminal(current.status)) throw statusTerminal(current.status_id, current.status)
  if (input.progress_percentage !== undefined || input.message !== undefined)
    return applyReport(current, input, now)
  return { applied: true, next: beat({ ...current }, now), change: null }
}

export function applyCancel(current: StoredStatus, now: Date): Change {
  if (isTerminal(current.status)) throw invalidTransition(current.status, 'cancelled')
  const next: StoredStatus = { ...current }
  enter(next, 'cancelled', now)
  return finish(current, next, now, () => 'status.cancelled')!
}

/** Lines as a producer sends them: `level` and `at` may be left to the defaults. */
export interface LogInput {
  message: string
  level?: LogLine['level']
  at?: Date
  fields?: Record<string, unknown>
}

/**
 * SPEC §14: lines appended to a status's log, numbered on from its last (`log_lines`), with `info` and
 * the time received as defaults. A log is a sign of life, so it counts as a heartbeat, and it is
 * accepted for a finished status too (what happened after the end is still worth reading). It changes
 * no version: its event is the lines.
 */
export function applyLog(
  current: StoredStatus,
  input: LogInput[],
  now: Date,
): { next: StoredStatus; lines: LogLine[]; first: number } {
  const lines = input.map((line): LogLine => ({
    at: line.at ?? now,
    level: line.level ?? 'info',
    message: line.message,
    ...(line.fields !== undefined && { fields: line.fields }),
  }))
  const next = beat({ ...current, log_lines: current.log_lines + lines.length }, now)
  return { next, lines, first: current.log_lines + 1 }
}

/** A producer's update as reported, with its `reported_at` rules. */
export interface Report {
  /** False when the report is older than one already applied: nothing moves backwards. */
  applied: boolean
  /** The state to keep: unchanged, or with only `last_reported_at` moved (no version, no event), or changed. */
  next: StoredStatus
  /** The change and its event; null when nothing visible changed. */
  change: Change | null
}

/**
 * `applyUpdate` with the order of reports: an update older (by `reported_at`) than the last applied one
 * is ignored, and one that changes nothing visible still moves `last_reported_at`, so that reports older
 * than it lose as well.
 */
export function applyReport(current: StoredStatus, input: UpdateInput, now: Date): Report {
  // Stryker disable next-line ConditionalExpression,LogicalOperator: a comparison with an absent time is false, so the presence tests only read clearly
  if (input.reported_at && current.last_reported_at && input.reported_at < current.last_reported_at) {
    return { applied: false, next: current, change: null }
  }
  const change = applyUpdate(current, input, now)
  if (change) return { applied: true, next: change.next, change }
  const newer =
    input.reported_at && !(current.last_reported_at && input.reported_at <= current.last_reported_at)
  const next = beat({ ...current }, now)
  if (newer) next.last_reported_at = input.reported_at!
  return { applied: true, next, change: null }
}

/** Deleting a status: its `status.deleted` event carries the last record, one version on. */
export function applyRemove(current: StoredStatus, now: Date): Change {
  return {
    next: { ...current, version: current.version + 1, updated_at: now },
    changes: {},
    type: 'status.deleted',
  }
}
