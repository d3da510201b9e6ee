// What a client was told, checked against what the store holds: the fault suite's definition of "no
// acknowledged write was lost" and "the event feed has no hole". Pure functions over plain data, so the
// checker itself is unit-tested (tests/unit/ledger.test.ts) with histories that must fail it.

/** One event of the feed, as far as the checks need it. */
export interface FeedEvent {
  seq: number
  type: string
  status_id: string
  version: number
}

interface Acknowledged {
  /** The highest version any 2xx answer reported for the status. */
  version: number
  /** A DELETE of it was answered 204. */
  deleted: boolean
  /** A DELETE of it was sent: unless answered, it may or may not have committed. */
  deleteSent: boolean
}

/** Every write a client saw acknowledged (a 2xx answer), by status. */
export class Ledger {
  private readonly acks = new Map<string, Acknowledged>()

  /** A 2xx answer said `statusId` is at `version` (a create is version 1). */
  ack(statusId: string, version: number): void {
    if (!Number.isInteger(version) || version < 1) {
      throw new Error(`acknowledged version of ${statusId} is not a version: ${String(version)}`)
    }
    const entry = this.acks.get(statusId)
    if (entry) entry.version = Math.max(entry.version, version)
    else this.acks.set(statusId, { version, deleted: false, deleteSent: false })
  }

  /** A DELETE of `statusId` is on its way: from now on the status may be gone. */
  deleteSent(statusId: string): void {
    const entry = this.acks.get(statusId)
    if (entry) entry.deleteSent = true
    else this.acks.set(statusId, { version: 1, deleted: false, deleteSent: true })
  }

  ackDelete(statusId: string): void {
    this.deleteSent(statusId)
    this.acks.get(statusId)!.deleted = true
  }

  /** Whether a DELETE of it was sent, answered or not. */
  mayBeGone(statusId: string): boolean {
    return this.acks.get(statusId)?.deleteSent ?? false
  }

  /** The highest acknowledged version, or undefined when nothing was acknowledged for it. */
  version(statusId: string): number | undefined {
    return this.acks.get(statusId)?.version
  }

  /** Ids with an acknowledged write and no delete sent. */
  live(): string[] {
    return [...this.acks].filter(([, entry]) => !entry.deleteSent).map(([id]) => id)
  }

  get size(): number {
    return this.acks.size
  }

  entries(): [string, Readonly<Acknowledged>][] {
    return [...this.acks]
  }
}

/**
 * Acknowledged writes missing from the store. `current` maps every stored status of the tenant to its
 * version. A status acknowledged at version v must be stored at v or later; one whose delete was
 * acknowledged must be gone; one whose delete was sent but not answered may be either.
 */
export function ledgerViolations(ledger: Ledger, current: ReadonlyMap<string, number>): string[] {
  const problems: string[] = []
  for (const [id, acked] of ledger.entries()) {
    const stored = current.get(id)
    if (acked.deleted) {
      if (stored !== undefined)
        problems.push(`${id}: its delete was acknowledged, but it is stored at version ${stored}`)
    } else if (stored === undefined) {
      if (!acked.deleteSent) problems.push(`${id}: acknowledged at version ${acked.version}, but not stored`)
    } else if (stored < acked.version) {
      problems.push(`${id}: acknowledged at version ${acked.version}, but stored at version ${stored}`)
    }
  }
  return problems
}

/**
 * Holes in a tenant's event feed, read from the start in `seq` order: seq must run 1, 2, 3… with no gap
 * and no repeat; each status's change events must number its versions 1, 2, 3… (a delete ends a life,
 * and a later create starts the next at 1); and each stored status's version must be the version of its
 * last event, while a status whose last event is a delete must not be stored. `status.log` events carry
 * the status's version without changing it and are left out of the version checks.
 */
export function feedViolations(events: readonly FeedEvent[], current: ReadonlyMap<string, number>): string[] {
  const problems: string[] = []
  events.forEach((event, i) => {
    if (event.seq !== i + 1) {
      const previous = i === 0 ? 'the start' : `seq ${events[i - 1].seq}`
      problems.push(`feed: seq ${event.seq} follows ${previous} (expected ${i + 1})`)
    }
  })

  const last = new Map<string, FeedEvent>()
  for (const event of events) {
    if (event.type === 'status.log') continue
    const before = last.get(event.status_id)
    const expected = before === undefined || before.type === 'status.deleted' ? 1 : before.version + 1
    if (event.type === 'status.created' && expected !== 1) {
      problems.push(`${event.status_id}: created again at seq ${event.seq} while it was not deleted`)
    } else if (event.version !== expected) {
      problems.push(
        `${event.status_id}: event seq ${event.seq} (${event.type}) has version ${event.version}, expected ${expected}`,
      )
    } else if (expected === 1 && event.type !== 'status.created') {
      problems.push(
        `${event.status_id}: its first event, seq ${event.seq}, is ${event.type}, not status.created`,
      )
    }
    last.set(event.status_id, event)
  }

  for (const [id, event] of last) {
    const stored = current.get(id)
    if (event.type === 'status.deleted') {
      if (stored !== undefined)
        problems.push(`${id}: its last event is a delete, but it is stored at version ${stored}`)
    } else if (stored === undefined) {
      problems.push(
        `${id}: its last event (seq ${event.seq}) has version ${event.version}, but it is not stored`,
      )
    } else if (stored !== event.version) {
      problems.push(
        `${id}: stored at version ${stored}, but its last event (seq ${event.seq}) has version ${event.version}`,
      )
    }
  }
  for (const [id, version] of current) {
    if (!last.has(id)) problems.push(`${id}: stored at version ${version}, but the feed has no event for it`)
  }
  return problems
}
