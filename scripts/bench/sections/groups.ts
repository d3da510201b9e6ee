// Groups (SPEC §12): the writer keeps a parent's `children` summary in the same transaction as every
// change of a child. What that costs a write, in one run: 10,000 statuses without a parent and 10,000
// children of one parent, updated through POST /api/status/batch exactly alike, in alternating rounds;
// then the parent's summary against a recount of its children, read back through the API.
import { cpuWindow, type CpuPercents } from '../lib/cpu'
import { authHeaders, batchBody, createStatuses, serviceStats, waitIdle } from '../lib/fixtures'
import { measureHttp, type Measurement } from '../lib/load'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'
import type { FeedHead } from '../lib/store'
import { recountChildren, type CountedSummary } from '../../lib/recount'

const STATUSES = 10_000
const ITEMS_PER_REQUEST = 1_000
/** Alternating rounds, so that a busier moment of the machine or a longer feed weighs on both sets alike. */
const ROUNDS = 2
const TARGET_RATIO = 0.8
/** The summary shows its mean to two decimals: a recount may differ by one in the last place. */
const PROGRESS_TOLERANCE = 0.01

type ChildrenSummary = CountedSummary

interface ListedStatus {
  status_id: string
  status: string
  version: number
  weight: number
  progress_percentage: number
  children: ChildrenSummary | null
}

/** One set of statuses under test, and where its load has got to. */
interface UpdateSet {
  label: string
  ids: string[]
  /** The group's parent, whose own writes (its roll-ups) are not counted as the set's updates. */
  parentId?: string
  /** Requests made so far over warm-up and rounds: the next one moves the progress on from there. */
  requests: number
}

interface Part {
  seconds: number
  measurement: Measurement
  /** Items the updater committed within the measured seconds (`/api/stats` updater.updates_written). */
  committed: number
  /**
   * Once the part's last requests are committed too: its items, the events they appended less the
   * parent's own (distinct-status writes), the parent's roll-up events and the flushes they took.
   */
  settled: { complete: boolean; items: number; writes: number; parentEvents: number; flushes: number }
  /** The updater's mean flush since the service started, as `/api/stats` has it after the part. */
  meanFlushMs: number
  cpu: CpuPercents<'server' | 'database'>
}

async function getJson<T>(ctx: BenchContext, path: string): Promise<T> {
  const res = await fetch(`${ctx.service.url}${path}`, { headers: authHeaders(ctx.service.apiKey) })
  const text = await res.text()
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${text}`)
  return JSON.parse(text) as T
}

async function createParent(ctx: BenchContext, statusId: string): Promise<void> {
  const res = await fetch(`${ctx.service.url}/api/status`, {
    method: 'POST',
    headers: { ...authHeaders(ctx.service.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({ status_id: statusId, kind: 'bench.group', status: 'processing', tags: ['bench'] }),
  })
  const text = await res.text()
  if (res.status !== 201) throw new Error(`creating the parent ${statusId}: HTTP ${res.status} ${text}`)
}

/**
 * Both sets through the same create path (the same rows but for `parent_id`), so that neither is a
 * copy laid out differently in the database; creation is not measured.
 */
async function createSets(ctx: BenchContext): Promise<{ roots: UpdateSet; children: UpdateSet }> {
  const parentId = 'group-parent'
  await createParent(ctx, parentId)
  const roots = await createStatuses(ctx.service, 'group-root', STATUSES)
  const children = await createStatuses(ctx.service, 'group-child', STATUSES, { parent_id: parentId })
  return {
    roots: { label: 'without a parent', ids: roots, requests: 0 },
    children: { label: 'children of one parent', ids: children, parentId, requests: 0 },
  }
}

/**
 * batch.ts's load over one set: request n sets slice n % 10 to a progress that moves by one every pass,
 * so every item is a real change. With `wait=true` each connection waits for its items' commit, so the
 * queue never holds two updates of one status: no item is merged into another, and the pace is the
 * writer's, not the accept path's (without it, batch.ts's queue runs tens of thousands ahead).
 */
function batchLoad(ctx: BenchContext, set: UpdateSet) {
  const slices = STATUSES / ITEMS_PER_REQUEST
  return {
    url: ctx.service.url,
    serverCpuMs: ctx.service.cpuMs,
    databaseCpuMs: ctx.database.cpuMs,
    headers: { ...authHeaders(ctx.service.apiKey), 'content-type': 'application/json' },
    next: () => {
      const i = set.requests++
      const slice = i % slices
      const progress = (Math.floor(i / slices) % 99) + 1
      return {
        method: 'POST' as const,
        path: '/api/status/batch?wait=true',
        body: batchBody(set.ids.slice(slice * ITEMS_PER_REQUEST, (slice + 1) * ITEMS_PER_REQUEST), progress),
      }
    },
  }
}

const parentVersion = async (ctx: BenchContext, set: UpdateSet) =>
  set.parentId === undefined ? 0 : (await getJson<ListedStatus>(ctx, `/api/status/${set.parentId}`)).version

/**
 * Waits until the updater has committed every item of the requests `set`'s load has sent since
 * `requestsBefore` (the ones cut off at its end as well), counted from `writtenBefore`, then for the feed
 * to be delivered; false if they are not all in within a minute. waitIdle alone is not enough: the
 * queue is empty as soon as the last flush has taken its statuses, before that flush commits.
 */
async function waitCommitted(
  ctx: BenchContext,
  set: UpdateSet,
  requestsBefore: number,
  writtenBefore: number,
) {
  const items = (set.requests - requestsBefore) * ITEMS_PER_REQUEST
  const deadline = Date.now() + 60_000
  for (;;) {
    const stats = await serviceStats(ctx.service)
    if (stats.updater.updates_written - writtenBefore >= items) break
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  if (!(await waitIdle(ctx.service))) throw new Error(`the feed was not delivered after ${set.label}`)
  return true
}

/** Unmeasured load over `set`, until all of it is committed. */
async function warmUp(ctx: BenchContext, set: UpdateSet): Promise<void> {
  const requestsBefore = set.requests
  const { updater } = await serviceStats(ctx.service)
  await measureHttp(batchLoad(ctx, set), {
    connections: ctx.options.batchConnections,
    warmupSec: 0,
    durationSec: ctx.part.warmupSec,
  })
  await waitCommitted(ctx, set, requestsBefore, updater.updates_written)
}

async function measurePart(ctx: BenchContext, set: UpdateSet, head: FeedHead): Promise<Part> {
  const settings = {
    connections: ctx.options.batchConnections,
    warmupSec: 0,
    durationSec: ctx.part.durationSec,
  }
  const before = await serviceStats(ctx.service)
  const seqBefore = await head.lastSeq()
  const versionBefore = await parentVersion(ctx, set)
  const requestsBefore = set.requests
  const cpu = cpuWindow({ server: ctx.service.cpuMs, database: ctx.database.cpuMs })
  const started = performance.now()
  const measurement = await measureHttp(batchLoad(ctx, set), settings)
  const seconds = (performance.now() - started) / 1000
  const cpuUse = cpu()
  // The rate is what the writer committed in the window: /api/stats counts items and flushes together.
  const end = await serviceStats(ctx.service)
  // Requests cut off at the end are still committed: once they are, the feed, the parent's version and
  // the counters agree, and tell whether any item was merged or the parent wrote more than once a flush.
  const settled = await waitCommitted(ctx, set, requestsBefore, before.updater.updates_written)
  const idle = await serviceStats(ctx.service)
  const events = (await head.lastSeq()) - seqBefore
  // Each roll-up is one new version of the parent and one event.
  const parentEvents = (await parentVersion(ctx, set)) - versionBefore
  return {
    seconds,
    measurement,
    committed: end.updater.updates_written - before.updater.updates_written,
    settled: {
      complete: settled,
      items: idle.updater.updates_written - before.updater.updates_written,
      writes: events - parentEvents,
      parentEvents,
      flushes: idle.updater.flushes - before.updater.flushes,
    },
    meanFlushMs: end.updater.mean_flush_ms,
    cpu: cpuUse,
  }
}

/** Every child of `parentId`, through the listing's keyset pages. */
async function listChildren(ctx: BenchContext, parentId: string): Promise<ListedStatus[]> {
  const children: ListedStatus[] = []
  let cursor: string | null = null
  do {
    const query = new URLSearchParams({ parent_id: parentId, limit: '500', sort: 'status_id' })
    if (cursor) query.set('cursor', cursor)
    const page = await getJson<{ items: ListedStatus[]; next_cursor: string | null; has_more: boolean }>(
      ctx,
      `/api/status?${query}`,
    )
    children.push(...page.items)
    cursor = page.has_more ? page.next_cursor : null
  } while (cursor)
  return children
}

/** What differs between the parent's summary and the recount, one line each; empty when they agree. */
function compareSummaries(
  stored: ChildrenSummary | null,
  counted: ChildrenSummary | null,
  listed: ListedStatus[],
  expected: string[],
): string[] {
  const problems: string[] = []
  const ids = new Set(listed.map((child) => child.status_id))
  if (ids.size !== listed.length) problems.push(`the listing gave ${listed.length - ids.size} children twice`)
  const missing = expected.filter((id) => !ids.has(id)).length
  if (missing > 0)
    problems.push(`the listing left out ${missing} of the ${thousands(expected.length)} children`)
  if (stored === null) return [...problems, 'the parent has no children summary']
  if (counted === null) return [...problems, 'the parent has no children to recount']
  if (stored.total !== counted.total) problems.push(`total ${stored.total}, recounted ${counted.total}`)
  for (const state of new Set([...Object.keys(stored.by_status), ...Object.keys(counted.by_status)])) {
    const [a, b] = [stored.by_status[state] ?? 0, counted.by_status[state] ?? 0]
    if (a !== b) problems.push(`by_status.${state} ${a}, recounted ${b}`)
  }
  // A hair over the tolerance: 0.01 itself is not exact in binary.
  if (Math.abs(stored.progress_percentage - counted.progress_percentage) > PROGRESS_TOLERANCE + 1e-9)
    problems.push(
      `progress_percentage ${stored.progress_percentage}, recounted ${counted.progress_percentage}`,
    )
  return problems
}

async function checkParent(ctx: BenchContext, set: UpdateSet) {
  const parent = await getJson<ListedStatus>(ctx, `/api/status/${set.parentId!}`)
  const listed = await listChildren(ctx, set.parentId!)
  const counted = recountChildren(listed)
  const problems = compareSummaries(parent.children, counted, listed, set.ids)
  return { stored: parent.children, counted, problems }
}

/** A set's rounds added up: items committed per second over all its measured seconds. */
function totals(parts: Part[]) {
  const sum = (f: (p: Part) => number) => parts.reduce((n, p) => n + f(p), 0)
  const seconds = sum((p) => p.seconds)
  // CPU % averaged over the rounds by their length; null if a round could not sample it.
  const cpu = (f: (p: Part) => number | null) =>
    parts.some((p) => f(p) === null) ? null : sum((p) => f(p)! * p.seconds) / seconds
  const serverPercent = cpu((p) => p.cpu.server)
  const committed = sum((p) => p.committed)
  const settledWrites = sum((p) => p.settled.writes)
  return {
    seconds,
    requests: sum((p) => p.measurement.requests),
    committed,
    perSec: committed / seconds,
    settledItems: sum((p) => p.settled.items),
    settledWrites,
    /** Items answered without a version of their own: none, when no two updates of a status met in the queue. */
    merged: sum((p) => p.settled.items) - settledWrites,
    parentEvents: sum((p) => p.settled.parentEvents),
    flushes: sum((p) => p.settled.flushes),
    /** Whether every item sent was seen committed after each round (else merged and the parent's count are partial). */
    settled: parts.every((p) => p.settled.complete),
    non2xx: sum((p) => p.measurement.non2xx),
    errors: sum((p) => p.measurement.errors),
    answered: parts.every((p) => p.measurement.requests > 0),
    p50: Math.max(...parts.map((p) => p.measurement.latencyMs.p50)),
    p99: Math.max(...parts.map((p) => p.measurement.latencyMs.p99)),
    serverPercent,
    serverUsPerUpdate:
      serverPercent === null || committed === 0 ? null : ((serverPercent / 100) * seconds * 1e6) / committed,
    otherPercent: cpu((p) => p.cpu.other),
    rounds: parts.map((p) => round(p.committed / p.seconds, 0)),
    meanFlushMs: parts.map((p) => p.meanFlushMs),
  }
}

export async function runGroups(ctx: BenchContext): Promise<SectionResult> {
  const seedStarted = performance.now()
  const { roots, children } = await createSets(ctx)
  const seedSec = (performance.now() - seedStarted) / 1000
  await waitIdle(ctx.service)

  if (ctx.part.warmupSec > 0) for (const set of [roots, children]) await warmUp(ctx, set)

  const parts = new Map<UpdateSet, Part[]>([
    [roots, []],
    [children, []],
  ])
  const head = await ctx.store.openFeedHead(ctx.service.tenantId)
  try {
    for (let r = 0; r < ROUNDS; r++)
      for (const set of [roots, children]) parts.get(set)!.push(await measurePart(ctx, set, head))
  } finally {
    await head.close()
  }
  const check = await checkParent(ctx, children)

  const without = totals(parts.get(roots)!)
  const group = totals(parts.get(children)!)
  const ratio = without.perSec > 0 ? group.perSec / without.perSec : null
  const x = (v: number | null) => (v === null ? '–' : `${round(v, 2)}×`)
  const percent = (v: number | null) => (v === null ? '–' : String(Math.round(v)))
  const row = (set: UpdateSet, t: typeof without, times: string) => [
    `${thousands(STATUSES)} ${set.label}`,
    thousands(t.perSec),
    thousands(t.merged),
    // No request answered within a round has no latency to show (autocannon says 0).
    t.answered ? String(round(t.p50, 1)) : '–',
    t.answered ? String(round(t.p99, 1)) : '–',
    percent(t.serverPercent),
    percent(t.serverUsPerUpdate),
    times,
  ]
  const recountLine =
    check.problems.length === 0
      ? `The parent's summary ${JSON.stringify(check.stored)} equals the recount of its children read back ` +
        `through GET /api/status?parent_id (pages of 500): total and by_status exactly, progress within ${PROGRESS_TOLERANCE}.`
      : `**RECOUNT MISMATCH**: the parent's summary ${JSON.stringify(check.stored)} is not the recount of its ` +
        `children ${JSON.stringify(check.counted)}: ${check.problems.join('; ')}.`
  if (check.problems.length > 0) {
    console.error(
      `\ngroups: the parent's children summary does not match a recount: ${check.problems.join('; ')}`,
    )
    // The report is still written; the run then fails (scripts/bench.ts exits with this code).
    process.exitCode = 1
  }

  const flushed = (t: typeof without) => (t.flushes > 0 ? round(t.settledItems / t.flushes, 0) : 0)
  const notes = [
    `Each set: ${thousands(STATUSES)} processing statuses made through POST /api/status (both sets and the parent ` +
      `in ${round(seedSec, 1)} s, not measured), then POST /api/status/batch?wait=true, ` +
      `${thousands(ITEMS_PER_REQUEST)} distinct statuses a request, progress-only, every item a real change, from ` +
      `${ctx.options.batchConnections} connections; ${ROUNDS} rounds of ${ctx.part.durationSec} s each, the sets ` +
      `alternating, after ${ctx.part.warmupSec} s warm-up each. updates/s counts the items the updater committed ` +
      'within the measured seconds (`/api/stats` updater.updates_written); merged, the items of the rounds (their ' +
      'last requests included) that wrote no version of their own (items less the events appended, less the ' +
      "parent's own): 0 means every update was a distinct-status write. p50 and p99 are the worse round's (– when a round had no request answered within its seconds). " +
      `Per round: without a parent ${without.rounds.map(thousands).join(', ')}/s, children ` +
      `${group.rounds.map(thousands).join(', ')}/s; mean flush so far after each part ` +
      `${[...without.meanFlushMs, ...group.meanFlushMs].join(', ')} ms; statuses per flush ${flushed(without)} ` +
      `and ${flushed(group)}.`,
    `The parent: ${thousands(group.parentEvents)} roll-up events in ${thousands(group.flushes)} flushes ` +
      `(SPEC §12: at most one per committed batch${group.parentEvents > group.flushes ? ': MORE THAN ONE' : ''}). ` +
      `Refused or failed: ${without.non2xx + group.non2xx} non-2xx, ${without.errors + group.errors} connection errors. ` +
      `Other programs used ${percent(Math.max(without.otherPercent ?? 0, group.otherPercent ?? 0))} % of a core.` +
      (without.settled && group.settled
        ? ''
        : " Not every item sent was seen committed within a minute of its round: merged and the parent's events are partial."),
    recountLine,
  ]
  const targets = [
    target(
      `groups: /batch updates of ${thousands(STATUSES)} children of one parent ≥ ${TARGET_RATIO}× those of ` +
        `${thousands(STATUSES)} statuses without a parent (distinct statuses/s)`,
      ratio,
      (v) => v >= TARGET_RATIO,
    ),
    target(
      "groups: the parent's children summary equals a recount of its children (differences)",
      check.problems.length,
      (v) => v === 0,
    ),
  ]
  return {
    name: 'groups',
    title: 'Groups: 10,000 children of one parent through /batch, against 10,000 without a parent',
    summary:
      `children ${thousands(group.perSec)}/s, without a parent ${thousands(without.perSec)}/s: ` +
      `${x(ratio)} (target ${TARGET_RATIO}×); recount ` +
      (check.problems.length === 0 ? 'matches' : `MISMATCH (${check.problems.join('; ')})`),
    table: {
      columns: [
        'statuses',
        'updates/s',
        'merged',
        'p50 ms',
        'p99 ms',
        'server CPU %',
        'server CPU µs/update',
        '× without a parent',
      ],
      rows: [row(roots, without, '1×'), row(children, group, x(ratio))],
    },
    notes,
    targets,
    otherCpuPercent: Math.max(without.otherPercent ?? 0, group.otherPercent ?? 0),
    data: {
      withoutParent: without,
      children: group,
      ratio,
      recount: check,
      seedSec,
      rounds: ROUNDS,
      itemsPerRequest: ITEMS_PER_REQUEST,
      connections: ctx.options.batchConnections,
    },
  }
}
