// Concurrent writers for the fault suite (tests/chaos): creates (some with Idempotency-Key), PUT updates
// (some with If-Match), recorded errors, cancels, deletes and `batch?wait=true`, against a server that may be
// killed or lose its database under them. Every 2xx goes into the ledger; every answer the contract
// does not allow goes into `unexpected`.
import { feedViolations, ledgerViolations, type FeedEvent, type Ledger } from './ledger'

/** A small seeded generator (mulberry32): the same seed gives the same choices and kill delays. */
export function seededRandom(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    /** An integer in [from, to]. */
    int: (from: number, to: number) => from + Math.floor(next() * (to - from + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
    chance: (p: number) => next() < p,
  }
}
export type Random = ReturnType<typeof seededRandom>

/** The seed from CHAOS_SEED, else a fresh one; the suite prints it so a failing run can be replayed. */
export const chaosSeed = (): number => {
  const given = process.env.CHAOS_SEED
  if (given && /^\d+$/.test(given)) return Number(given)
  return Math.floor(Math.random() * 2 ** 31)
}

/** Trials per store: CHAOS_TRIALS (set by the runner's --chaos-trials), else `fallback`. */
export const chaosTrials = (fallback: number): number => {
  const given = process.env.CHAOS_TRIALS
  return given && /^[1-9]\d*$/.test(given) ? Number(given) : fallback
}

export interface Target {
  baseUrl: string
  key: string
}

type Answer =
  | { kind: 'answer'; status: number; body: Record<string, unknown>; headers: Headers }
  | { kind: 'connection'; error: string }
  | { kind: 'hang' }

const REQUEST_TIMEOUT_MS = 30_000

async function send(
  target: Target,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  try {
    const res = await fetch(`${target.baseUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${target.key}`, 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const text = await res.text()
    let parsed: Record<string, unknown> = {}
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {}
    } catch {
      parsed = { unparsable: text.slice(0, 200) }
    }
    return { kind: 'answer', status: res.status, body: parsed, headers: res.headers }
  } catch (err) {
    if (err instanceof DOMException && err.name === 'TimeoutError') return { kind: 'hang' }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    return { kind: 'connection', error: cause?.code ?? cause?.message ?? String(err) }
  }
}

export interface LoadOptions {
  target: Target
  rng: Random
  ledger: Ledger
  /** Prefix of the status ids this run creates (unique per run). */
  prefix: string
  workers?: number
  /** Whether a dropped or refused HTTP connection is expected now (the server was killed). */
  connectionLossExpected(): boolean
  /** Whether `503` problems (database-unavailable and the like) are expected now. */
  unavailableExpected(): boolean
}

export interface LoadReport {
  requests: number
  acknowledged: number
  refused: number
  connectionErrors: number
  unavailable: number
  unexpected: string[]
}

const STATES = ['pending', 'starting', 'processing', 'retry_pending', 'completed', 'failed', 'cancelled']
/** 4xx answers the load provokes on purpose: illegal moves, stale If-Match, racing writers. */
const EXPECTED_REFUSALS = new Set([
  'invalid-transition',
  'status-terminal',
  'version-mismatch',
  'write-conflict',
  'idempotency-request-in-progress',
])

/** Idempotent creates whose answer never came: the suite sends them again after a restart. */
export interface PendingCreate {
  key: string
  body: { status_id: string; kind: string }
}

/**
 * A running load: `stop()` ends it and resolves with the report once every worker has finished its
 * request in flight.
 */
export function startLoad(options: LoadOptions, pending: PendingCreate[]) {
  const { target, rng, ledger, prefix } = options
  const report: LoadReport = {
    requests: 0,
    acknowledged: 0,
    refused: 0,
    connectionErrors: 0,
    unavailable: 0,
    unexpected: [],
  }
  let stopped = false
  let lastFailed = false
  let created = 0

  const judge = (
    what: string,
    answer: Answer,
    ok: number,
    onOk: (body: Record<string, unknown>) => void,
    statusId?: string,
  ) => {
    report.requests += 1
    lastFailed = answer.kind !== 'answer'
    if (answer.kind === 'hang') {
      report.unexpected.push(`${what}: no answer within ${REQUEST_TIMEOUT_MS} ms`)
      return
    }
    if (answer.kind === 'connection') {
      report.connectionErrors += 1
      if (!options.connectionLossExpected())
        report.unexpected.push(`${what}: connection lost (${answer.error})`)
      return
    }
    const { status, body, headers } = answer
    if (status === ok) {
      report.acknowledged += 1
      onOk(body)
      return
    }
    const problem = headers.get('content-type')?.startsWith('application/problem+json') ?? false
    const described = `${what}: ${status} ${JSON.stringify(body).slice(0, 300)}`
    if (!problem || body.status !== status) {
      report.unexpected.push(`${described} (not a problem+json with status ${status})`)
    } else if (status === 503 && options.unavailableExpected() && headers.get('retry-after')) {
      report.unavailable += 1
    } else if (status >= 400 && status < 500 && EXPECTED_REFUSALS.has(String(body.code))) {
      report.refused += 1
    } else if (status === 404 && statusId !== undefined && ledger.mayBeGone(statusId)) {
      // A write racing a delete of the same status.
      report.refused += 1
    } else {
      report.unexpected.push(described)
    }
  }

  const ackRecord = (body: Record<string, unknown>, what: string) => {
    if (typeof body.status_id !== 'string' || typeof body.version !== 'number') {
      report.unexpected.push(`${what}: a 2xx without status_id and version: ${JSON.stringify(body)}`)
      return
    }
    ledger.ack(body.status_id, body.version)
    if (!ledger.mayBeGone(body.status_id)) known.add(body.status_id)
  }
  const known = new Set<string>(ledger.live())
  const someKnown = (): string | undefined => (known.size === 0 ? undefined : rng.pick([...known]))

  const create = async () => {
    const body = { status_id: `${prefix}-${++created}`, kind: 'chaos' }
    const idempotent = rng.chance(0.3)
    const key = `${body.status_id}-key`
    const answer = await send(
      target,
      'POST',
      '/api/status',
      body,
      idempotent ? { 'Idempotency-Key': key } : {},
    )
    if (idempotent && answer.kind !== 'answer') pending.push({ key, body })
    if (idempotent && answer.kind === 'answer' && answer.status === 503) pending.push({ key, body })
    judge(`POST /api/status ${body.status_id}`, answer, 201, (b) => ackRecord(b, 'create'))
  }

  const update = async (id: string) => {
    const body: Record<string, unknown> = {}
    if (rng.chance(0.7)) body.progress_percentage = rng.int(0, 100)
    if (rng.chance(0.4) || Object.keys(body).length === 0) body.new_status = rng.pick(STATES)
    if (rng.chance(0.3)) body.message = `step ${rng.int(1, 9)}`
    const headers: Record<string, string> = {}
    const acked = ledger.version(id)
    if (acked !== undefined && rng.chance(0.3)) headers['If-Match'] = `"${acked}"`
    const answer = await send(target, 'PUT', `/api/status/${id}`, body, headers)
    judge(`PUT ${id} ${JSON.stringify(body)}`, answer, 200, (b) => ackRecord(b, 'update'), id)
  }

  const recordError = async (id: string) => {
    const body = { error_info: { message: 'chaos', code: 'CHAOS' }, should_retry: rng.chance(0.6) }
    const answer = await send(target, 'POST', `/api/status/${id}/errors`, body)
    judge(`POST errors ${id}`, answer, 200, (b) => ackRecord(b, 'error'), id)
  }

  const cancel = async (id: string) => {
    const answer = await send(target, 'POST', `/api/status/${id}/cancel`)
    judge(`POST cancel ${id}`, answer, 200, (b) => ackRecord(b, 'cancel'), id)
  }

  const remove = async (id: string) => {
    // No later write picks it, and from now on it may be gone.
    known.delete(id)
    ledger.deleteSent(id)
    const answer = await send(target, 'DELETE', `/api/status/${id}`)
    judge(`DELETE ${id}`, answer, 204, () => ledger.ackDelete(id), id)
  }

  const batch = async () => {
    const updates = Array.from({ length: rng.int(1, 8) }, () => {
      const item: Record<string, unknown> = { status_id: someKnown() }
      if (rng.chance(0.8)) item.progress_percentage = rng.int(0, 100)
      if (rng.chance(0.3) || item.progress_percentage === undefined) item.new_status = rng.pick(STATES)
      return item
    })
    const answer = await send(target, 'POST', '/api/status/batch?wait=true', { updates })
    judge(`POST batch?wait=true (${updates.length})`, answer, 200, (b) => {
      const results = b.results as
        { result: string; status_id: string; version?: number; error?: { code: string } }[] | undefined
      if (!Array.isArray(results)) {
        report.unexpected.push(`batch?wait=true: a 200 without results: ${JSON.stringify(b)}`)
        return
      }
      for (const item of results) {
        if (item.result === 'applied') ledger.ack(item.status_id, item.version!)
        const code = item.result === 'error' ? String(item.error?.code) : undefined
        const unavailable = code === 'database-unavailable' && options.unavailableExpected()
        const racedDelete = code === 'status-not-found' && ledger.mayBeGone(item.status_id)
        if (code !== undefined && !EXPECTED_REFUSALS.has(code) && !unavailable && !racedDelete) {
          report.unexpected.push(`batch?wait=true: item ${JSON.stringify(item)}`)
        }
      }
    })
  }

  const worker = async () => {
    while (!stopped) {
      const id = someKnown()
      const roll = rng.next()
      if (id === undefined || roll < 0.3) await create()
      else if (roll < 0.6) await update(id)
      else if (roll < 0.7) await recordError(id)
      else if (roll < 0.74) await cancel(id)
      else if (roll < 0.77) await remove(id)
      else await batch()
      // A refused connection fails at once; back off a little rather than spin.
      if (lastFailed) await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  const running = Promise.all(Array.from({ length: options.workers ?? 6 }, worker))
  return {
    report,
    async stop(): Promise<LoadReport> {
      stopped = true
      await running
      return report
    },
  }
}

/**
 * Sends each pending idempotent create again, as a client retrying after a lost answer would. The
 * service must answer 201 (a replay if the first attempt committed, a fresh create if not); 503 keeps
 * it pending. Returns what it could not explain.
 */
export async function replayPendingCreates(target: Target, ledger: Ledger, pending: PendingCreate[]) {
  const unexpected: string[] = []
  for (const create of pending.splice(0)) {
    const answer = await send(target, 'POST', '/api/status', create.body, { 'Idempotency-Key': create.key })
    if (
      answer.kind === 'answer' &&
      answer.status === 201 &&
      answer.body.status_id === create.body.status_id
    ) {
      ledger.ack(create.body.status_id, answer.body.version as number)
    } else if (answer.kind === 'answer' && answer.status === 503) {
      pending.push(create)
    } else {
      unexpected.push(`replayed create ${create.body.status_id}: ${JSON.stringify(answer)}`)
    }
  }
  return unexpected
}

interface Page<T> {
  items: T[]
  has_more: boolean
}

async function getJson<T>(target: Target, route: string): Promise<T> {
  const answer = await send(target, 'GET', route)
  if (answer.kind !== 'answer' || answer.status !== 200) {
    throw new Error(`GET ${route}: ${JSON.stringify(answer)}`)
  }
  return answer.body as T
}

/** Every stored status of the key's tenant, by id, with its version. */
export async function storedVersions(target: Target): Promise<Map<string, number>> {
  const versions = new Map<string, number>()
  let cursor: string | null = null
  do {
    const page: Page<{ status_id: string; version: number }> & { next_cursor: string | null } = await getJson(
      target,
      `/api/status?sort=status_id&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    )
    for (const item of page.items) versions.set(item.status_id, item.version)
    cursor = page.has_more ? page.next_cursor : null
  } while (cursor)
  return versions
}

/** The tenant's whole event feed, `GET /api/events` paged to the end. */
export async function wholeFeed(target: Target): Promise<FeedEvent[]> {
  const events: FeedEvent[] = []
  let after = 0
  for (;;) {
    const page: Page<FeedEvent> & { next_after_seq: number } = await getJson(
      target,
      `/api/events?after_seq=${after}&limit=1000`,
    )
    events.push(...page.items.map(({ seq, type, status_id, version }) => ({ seq, type, status_id, version })))
    if (!page.has_more) return events
    after = page.next_after_seq
  }
}

/** A write through the service, retried while it answers 503: proves the service took writes again. */
export async function writesSucceedAgain(target: Target, ledger: Ledger, id: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  const answers: string[] = []
  for (;;) {
    // Keyed, so a retry of an attempt that committed but lost its answer replays it.
    const answer = await send(
      target,
      'POST',
      '/api/status',
      { status_id: id, kind: 'chaos' },
      { 'Idempotency-Key': `${id}-key` },
    )
    if (answer.kind === 'answer' && answer.status === 201) {
      ledger.ack(id, answer.body.version as number)
      return
    }
    answers.push(JSON.stringify(answer).slice(0, 200))
    if (answer.kind === 'answer' && answer.status !== 503) {
      throw new Error(`a write after the faults was answered ${answers.at(-1)}`)
    }
    if (Date.now() > deadline)
      throw new Error(`writes did not succeed again; last answers:\n${answers.slice(-5).join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** What the store holds that contradicts the ledger or the feed's promises (empty when intact). */
export async function storeViolations(target: Target, ledger: Ledger): Promise<string[]> {
  const current = await storedVersions(target)
  const feed = await wholeFeed(target)
  return [...ledgerViolations(ledger, current), ...feedViolations(feed, current)]
}
