/** What a child contributes to its parent's summary (SPEC §12), as the API lists it. */
export interface CountedChild {
  status: string
  weight: number
  progress_percentage: number
}

export interface CountedSummary {
  total: number
  by_status: Record<string, number>
  progress_percentage: number
}

/**
 * A parent's `children` summary counted afresh from its children, by SPEC §12's definition and apart
 * from the writer's own code (src/domain/groups.ts), so that the two can be checked against each
 * other: counts by state, and the weight-weighted mean progress to two decimals. Null without children.
 */
export function recountChildren(children: readonly CountedChild[]): CountedSummary | null {
  if (children.length === 0) return null
  const by_status: Record<string, number> = {}
  let weight = 0
  let weighted = 0
  for (const child of children) {
    by_status[child.status] = (by_status[child.status] ?? 0) + 1
    weight += child.weight
    weighted += child.weight * child.progress_percentage
  }
  return {
    total: children.length,
    by_status,
    progress_percentage: Math.round((weighted / weight) * 100) / 100,
  }
}
