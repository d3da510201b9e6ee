import {
  expectProblem,
  expectValidationError,
  freshTenantApi,
  RFC3339_UTC,
  statusApi,
  UUID,
  type EventJson,
  type StatusApi,
} from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'
import { range } from '../helpers/wait'

let t: TestApp
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp()
  api = statusApi(t, await t.makeKey())
})
afterAll(() => t.close())

/** A status with `updates` progress updates after its creation: 1 + updates events. */
async function statusWithEvents(updates: number) {
  const created = await api.createOk({ status: 'processing' })
  for (let n = 1; n <= updates; n++) await api.updateOk(created.status_id, { progress_percentage: n })
  return created
}

describe('GET /api/status/:id/history', () => {
  test('when a status has changed, then its events are listed oldest first with the full envelope', async () => {
    const created = await api.createOk({ status: 'pending' })
    await api.updateOk(created.status_id, { new_status: 'processing' })
    await api.updateOk(created.status_id, { message: 'working' })
    await api.recordError(created.status_id, { error_info: 'oops', should_retry: true })
    await api.cancel(created.status_id)

    const res = await api.history(created.status_id)

    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ next_cursor: null, has_more: false })
    const items = res.body.items as EventJson[]
    expect(items.map((e) => [e.type, e.version])).toEqual([
      ['status.created', 1],
      ['status.updated', 2],
      ['status.progress', 3],
      ['status.error', 4],
      ['status.cancelled', 5],
    ])
    for (const event of items) {
      expect(event).toEqual({
        event_id: expect.stringMatching(UUID),
        seq: expect.any(Number),
        type: expect.any(String),
        status_id: created.status_id,
        version: event.status.version,
        occurred_at: event.status.updated_at,
        changes: expect.any(Object),
        status: expect.objectContaining({ status_id: created.status_id }),
      })
      expect(event.occurred_at).toMatch(RFC3339_UTC)
    }
    expect(items[1]!.changes.status).toEqual(['pending', 'processing'])
    expect(items[2]!.changes.message).toEqual([null, 'working'])
    const seqs = items.map((e) => e.seq)
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    expect(new Set(items.map((e) => e.event_id)).size).toBe(items.length)
    expect(items[4]!.status).toEqual((await api.get(created.status_id)).body)
  })

  test('when the history is paged with a limit, then every event appears once across the pages in order', async () => {
    const created = await statusWithEvents(7)

    const pages: { versions: number[]; has_more: boolean; next_cursor: string | null }[] = []
    let cursor: string | undefined
    do {
      const res = await api.history(created.status_id, cursor ? { limit: 3, cursor } : { limit: 3 })
      expect(res.status).toBe(200)
      pages.push({
        versions: res.body.items.map((e: EventJson) => e.version),
        has_more: res.body.has_more,
        next_cursor: res.body.next_cursor,
      })
      cursor = res.body.next_cursor ?? undefined
    } while (cursor)

    expect(pages.map((p) => [p.versions, p.has_more])).toEqual([
      [[1, 2, 3], true],
      [[4, 5, 6], true],
      [[7, 8], false],
    ])
    expect(pages[0]!.next_cursor).toEqual(expect.any(String))
    expect(pages[2]!.next_cursor).toBeNull()
  })

  test('when the last page is exactly full, then has_more is false and next_cursor is null', async () => {
    const created = await statusWithEvents(3)

    const res = await api.history(created.status_id, { limit: 4 })

    expect(res.body.items).toHaveLength(4)
    expect(res.body).toMatchObject({ has_more: false, next_cursor: null })
  })

  test('when the cursor is tampered with, then 400 invalid-cursor', async () => {
    const created = await statusWithEvents(3)
    const first = await api.history(created.status_id, { limit: 2 })
    const [body, mac] = (first.body.next_cursor as string).split('.')
    const forged = Buffer.from(JSON.stringify({ s: `history:${created.status_id}`, p: [0] })).toString(
      'base64url',
    )

    const results = await Promise.all(
      [`${forged}.${mac}`, `${body}.${mac!.slice(1)}x`, `${body}`, `${body}.${mac}.extra`, 'garbage'].map(
        (cursor) => api.history(created.status_id, { cursor }),
      ),
    )

    for (const res of results) expectProblem(res, 400, 'invalid-cursor')
  })

  test('when a cursor from another status is used, then 400 invalid-cursor', async () => {
    const a = await statusWithEvents(3)
    const b = await statusWithEvents(3)
    const cursor = (await api.history(a.status_id, { limit: 1 })).body.next_cursor as string

    const res = await api.history(b.status_id, { cursor })

    expectProblem(res, 400, 'invalid-cursor')
  })

  test('when the status is unknown, then 404 status-not-found', async () => {
    const res = await api.history('never-existed')

    expectProblem(res, 404, 'status-not-found')
  })

  test('when the status belongs to another tenant, then 404 and none of its events leak', async () => {
    const created = await statusWithEvents(1)
    const other = await freshTenantApi(t, 'history-other')

    const res = await other.history(created.status_id)

    expectProblem(res, 404, 'status-not-found')
  })

  test.each([{ limit: 0 }, { limit: 501 }, { limit: 'many' }, { page: 2 }])(
    'when the query is %j, then 400 validation-failed',
    async (query) => {
      const created = await api.createOk()

      const res = await api.history(created.status_id, query)

      expectValidationError(res)
    },
  )
})

describe('GET /api/events', () => {
  test('when a tenant writes, then its feed lists every event in seq order from 1 with no gaps', async () => {
    const tenant = await freshTenantApi(t, 'feed')
    const a = await tenant.createOk({ status: 'processing' })
    const b = await tenant.createOk()
    await tenant.updateOk(a.status_id, { progress_percentage: 10 })
    await tenant.cancel(b.status_id)
    await tenant.recordError(a.status_id, { error_info: 'x', should_retry: true })
    await tenant.remove(b.status_id)

    const events = await tenant.allEvents()

    expect(events.map((e) => e.seq)).toEqual(range(1, 6))
    expect(events.map((e) => [e.status_id, e.type])).toEqual([
      [a.status_id, 'status.created'],
      [b.status_id, 'status.created'],
      [a.status_id, 'status.progress'],
      [b.status_id, 'status.cancelled'],
      [a.status_id, 'status.error'],
      [b.status_id, 'status.deleted'],
    ])
  })

  test('when many writes run concurrently, then seq is still strictly increasing with no gaps', async () => {
    const tenant = await freshTenantApi(t, 'feed-concurrent')
    const seeds = await Promise.all(range(1, 10).map(() => tenant.createOk({ status: 'processing' })))

    const writes = await Promise.all([
      ...seeds.map((s) => tenant.update(s.status_id, { progress_percentage: 50 })),
      ...seeds.map((s) => tenant.update(s.status_id, { message: 'concurrent' })),
      ...range(1, 10).map(() => tenant.create()),
    ])

    expect(writes.every((r) => r.status === 200 || r.status === 201)).toBe(true)
    const events = await tenant.allEvents()
    expect(events.map((e) => e.seq)).toEqual(range(1, 40))
    expect(new Set(events.map((e) => `${e.status_id}@${e.version}`)).size).toBe(40)
    for (const seed of seeds) {
      const own = events.filter((e) => e.status_id === seed.status_id).map((e) => e.version)
      expect(own).toEqual([1, 2, 3])
    }
  })

  test('when the feed is paged with after_seq and limit, then next_after_seq continues it without loss or repeat', async () => {
    const tenant = await freshTenantApi(t, 'feed-paged')
    const created = await tenant.createOk({ status: 'processing' })
    for (let n = 1; n <= 9; n++) await tenant.updateOk(created.status_id, { progress_percentage: n })

    const pages: { seqs: number[]; next: number; has_more: boolean }[] = []
    let after = 0
    for (;;) {
      const res = await tenant.events({ after_seq: after, limit: 4 })
      expect(res.status).toBe(200)
      pages.push({
        seqs: res.body.items.map((e: EventJson) => e.seq),
        next: res.body.next_after_seq,
        has_more: res.body.has_more,
      })
      if (!res.body.has_more) break
      after = res.body.next_after_seq
    }

    expect(pages).toEqual([
      { seqs: [1, 2, 3, 4], next: 4, has_more: true },
      { seqs: [5, 6, 7, 8], next: 8, has_more: true },
      { seqs: [9, 10], next: 10, has_more: false },
    ])
  })

  test('when after_seq is at the end of the feed, then no items and next_after_seq stays put', async () => {
    const tenant = await freshTenantApi(t, 'feed-end')
    await tenant.createOk()

    const res = await tenant.events({ after_seq: 1 })

    expect(res.status).toBe(200)
    expect(res.body).toEqual({ items: [], next_after_seq: 1, has_more: false })
  })

  test('when another tenant writes, then its events are not in this feed and its seq counts separately', async () => {
    const mine = await freshTenantApi(t, 'feed-mine')
    const theirs = await freshTenantApi(t, 'feed-theirs')
    await mine.createOk()
    const other = await theirs.createOk()
    await mine.createOk()

    const [myEvents, theirEvents] = [await mine.allEvents(), await theirs.allEvents()]

    expect(myEvents.map((e) => e.seq)).toEqual([1, 2])
    expect(myEvents.some((e) => e.status_id === other.status_id)).toBe(false)
    expect(theirEvents.map((e) => [e.seq, e.status_id])).toEqual([[1, other.status_id]])
  })

  test('when no parameters are given, then the feed starts at the beginning with the default limit of 100', async () => {
    const tenant = await freshTenantApi(t, 'feed-default')
    const created = await tenant.createOk({ status: 'processing' })
    for (let n = 1; n <= 100; n++) await tenant.updateOk(created.status_id, { progress_percentage: n })

    const res = await tenant.events()

    expect(res.body.items).toHaveLength(100)
    expect(res.body).toMatchObject({ next_after_seq: 100, has_more: true })
  })

  test.each([{ after_seq: -1 }, { after_seq: 'x' }, { limit: 0 }, { limit: 1001 }, { since: 3 }])(
    'when the query is %j, then 400 validation-failed',
    async (query) => {
      const res = await api.events(query)

      expectValidationError(res)
    },
  )
})
