import { invalidParent } from '../errors'
import type { ChildrenSummary, ChildrenTally, StoredStatus } from './status-record'
import { isTerminal, STATUS_VALUES, type StatusValue } from './transitions'

// SPEC §12: a parent's `children` summary is kept from its children's moves, never recounted. Each
// child adds its part (its state, its weight and its weight times its progress); a move takes its part
// before away and adds its part after. The writer applies a flush's moves to each parent once.

/** A tree has at most this many levels: a root is level 1. */
export const MAX_DEPTH = 5

/** One child's part in its parent's summary. */
interface Part {
  status: StatusValue
  weight: number
  weighted: number
}

const partOf = (s: StoredStatus | null): Part | null =>
  s === null ? null : { status: s.status, weight: s.weight, weighted: s.weight * s.progress_percentage }

/** A child as the flush found it and as it leaves it (null: absent, or deleted). */
export interface ChildMove {
  statusId: string
  before: StoredStatus | null
  after: StoredStatus | null
}

/** Whether a move changes the child's part in its parent's summary. */
export function movesPart(move: ChildMove): boolean {
  const [a, b] = [partOf(move.before), partOf(move.after)]
  if (a === null || b === null) return a !== b
  return a.status !== b.status || a.weight !== b.weight || a.weighted !== b.weighted
}

const round2 = (n: number) => Math.round(n * 100) / 100

/**
 * The parent's summary and tally after its children's `moves`; null summary when it has no children
 * left. `failed` names the first child seen failing (it stays named while the summary lives).
 */
export function summarise(
  parent: Pick<StoredStatus, 'children' | 'children_tally'>,
  moves: ChildMove[],
): { children: ChildrenSummary | null; children_tally: ChildrenTally | null } {
  const byStatus = { ...parent.children?.by_status }
  let total = parent.children?.total ?? 0
  let { weight, weighted, failed } = parent.children_tally ?? { weight: 0, weighted: 0, failed: null }
  for (const move of moves) {
    const [before, after] = [partOf(move.before), partOf(move.after)]
    if (before) {
      total -= 1
      weight -= before.weight
      weighted -= before.weighted
      const left = (byStatus[before.status] ?? 0) - 1
      if (left > 0) byStatus[before.status] = left
      else delete byStatus[before.status]
    }
    if (after) {
      total += 1
      weight += after.weight
      weighted += after.weighted
      byStatus[after.status] = (byStatus[after.status] ?? 0) + 1
      if (after.status === 'failed' && before?.status !== 'failed') failed ??= move.statusId
    }
  }
  if (total <= 0) return { children: null, children_tally: null }
  // Sums of floats drift by ulps; the mean is shown to two decimals and held within 0–100.
  const mean = weight > 0 ? Math.min(100, Math.max(0, round2(weighted / weight))) : 0
  // In the states' own order, so that equal summaries are equal as JSON too.
  const by_status: ChildrenSummary['by_status'] = {}
  for (const status of STATUS_VALUES) if (byStatus[status]) by_status[status] = byStatus[status]
  return {
    children: { total, by_status, progress_percentage: mean },
    children_tally: { weight, weighted, failed },
  }
}

/** Whether every child in the summary is terminal. */
export function allTerminal(children: ChildrenSummary | null): boolean {
  if (children === null) return false
  let terminal = 0
  for (const [status, n] of Object.entries(children.by_status))
    if (isTerminal(status as StatusValue)) terminal += n
  return terminal === children.total
}

/** A child that entered `starting` or `processing` in these moves (its first start sets `started_at`). */
export const childStarted = (moves: ChildMove[]) =>
  moves.some((m) => m.after !== null && m.after.started_at !== null && !m.before?.started_at)

/** The first child that became `failed` in these moves. */
export const childFailed = (moves: ChildMove[]) =>
  moves.find((m) => m.after?.status === 'failed' && m.before?.status !== 'failed')?.statusId

/**
 * The level a new child of `parent` takes, or why `parentId` cannot be its parent (SPEC §12): unknown
 * in this tenant (`parent` undefined or deleted), terminal, the status itself, or 5 levels deep already.
 */
export function childDepth(statusId: string, parentId: string, parent: StoredStatus | null | undefined) {
  if (parentId === statusId) throw invalidParent(parentId, 'itself')
  if (!parent) throw invalidParent(parentId, 'unknown')
  if (isTerminal(parent.status)) throw invalidParent(parentId, 'terminal')
  if (parent.depth >= MAX_DEPTH) throw invalidParent(parentId, 'too-deep')
  return parent.depth + 1
}
