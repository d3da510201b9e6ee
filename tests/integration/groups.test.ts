import fc from 'fast-check'
import {
  expectProblem,
  freshTenantApi,
  type EventJson,
  type StatusApi,
  type StatusJson,
} from '../helpers/status-api'
import { recountChildren } from '../../scripts/lib/recount'
import { buildTestApp, type TestApp } from '../helpers/test-app'

// SPEC §12: groups. A parent's `children` summary is kept by the writer in the same transaction as
// every child change; these tests compare it with a recount of the children, and watch the feed for
// the events a roll-up and a cascade write.

let t: TestApp
beforeAll(async () => {
  // A flush takes up to 1,000 statuses, as many as one /batch request carries.
  t = await buildTestApp({ updater: { batchSize: 1000 } })
})
afterAll(() => t.close())

let api: StatusApi
beforeEach(async () => {
  api = await freshTenantApi(t, 'groups')
})

/** Every child of `parentId`, read through the listing's `parent_id` filter, page by page. */
async function childrenOf(parentId: string): Promise<StatusJson[]> {
  const children: StatusJson[] = []
  for (let cursor = ''; ;) {
    const res = await api.list(`parent_id=${encodeURIComponent(parentId)}&limit=500${cursor}`)
    expect(res.status).toBe(200)
    children.push(...res.body.items)
    if (!res.body.has_more) return children
    cursor = `&cursor=${encodeURIComponent(res.body.next_cursor)}`
  }
}

async function expectSummaryMatchesRecount(parentId: string) {
  const parent = (await api.get(parentId)).body as StatusJson
  const counted = recountChildren(await childrenOf(parentId))
  expect(parent.children === null ? null : { ...parent.children }).toEqual(
    counted === null
      ? null
      : { ...counted, progress_percentage: expect.closeTo(counted.progress_percentage, 1) },
  )
  return parent
}

/** The tenant's events after `seq`, oldest first, page by page. */
async function eventsAfter(seq: number): Promise<EventJson[]> {
  const events: EventJson[] = []
  for (let after = seq, more = true; more;) {
    const res = await api.events({ after_seq: after, limit: 1000 })
    expect(res.status).toBe(200)
    events.push(...res.body.items)
    after = res.body.next_after_seq
    more = res.body.has_more
  }
  return events
}
const lastSeq = async () => (await eventsAfter(0)).at(-1)?.seq ?? 0

describe('creating children', () => {
  test('when children are created under a parent, then its summary counts them by state with the weighted progress', async () => {
    const parent = await api.createOk({ status: 'processing' })

    await api.createOk({ parent_id: parent.status_id, weight: 3, progress_percentage: 40 })
    await api.createOk({ parent_id: parent.status_id, status: 'processing', progress_percentage: 80 })

    const read = await expectSummaryMatchesRecount(parent.status_id)
    expect(read.children).toEqual({
      total: 2,
      by_status: { pending: 1, processing: 1 },
      progress_percentage: 50, // (3 × 40 + 1 × 80) / 4
    })
  })

  test('when a child is created, then it carries its parent, weight and policies, and the parent one status.progress event', async () => {
    const parent = await api.createOk({ status: 'processing' })
    const before = await lastSeq()

    const child = await api.createOk({
      parent_id: parent.status_id,
      weight: 2.5,
      on_child_failure: 'fail',
      complete_with_children: true,
    })

    expect(child).toMatchObject({
      parent_id: parent.status_id,
      weight: 2.5,
      on_child_failure: 'fail',
      complete_with_children: true,
      children: null,
    })
    const events = await eventsAfter(before)
    expect(events.map((e) => [e.type, e.status_id])).toEqual([
      ['status.created', child.status_id],
      ['status.progress', parent.status_id],
    ])
    expect(events[1]).toMatchObject({
      version: 2,
      changes: { children: [null, { total: 1, by_status: { pending: 1 }, progress_percentage: 0 }] },
    })
  })

  test.each([
    ['unknown', () => 'no-such-parent'],
    ['itself', () => 'self-parent'],
  ])('when parent_id is %s, then 422 invalid-parent and nothing is created', async (reason, parentOf) => {
    const parentId = parentOf()
    const res = await api.create({ status_id: 'self-parent', parent_id: parentId })

    expectProblem(res, 422, 'invalid-parent', { parent_id: parentId, reason })
    expect((await api.get('self-parent')).status).toBe(404)
  })

  test('when the parent is terminal, then 422 invalid-parent and the parent is unchanged', async () => {
    const parent = await api.createOk({ status: 'processing' })
    await api.updateOk(parent.status_id, { new_status: 'completed' })
    const before = await api.snapshot(parent.status_id)

    const res = await api.create({ status_id: 'late-child', parent_id: parent.status_id })

    expectProblem(res, 422, 'invalid-parent', { reason: 'terminal' })
    expect(await api.snapshot(parent.status_id)).toEqual(before)
    expect((await api.get('late-child')).status).toBe(404)
  })

  test("when the parent is another tenant's, then 422 invalid-parent as if it did not exist", async () => {
    const other = await freshTenantApi(t, 'groups-other')
    const theirs = await other.createOk({ status: 'processing' })
    const before = await other.snapshot(theirs.status_id)

    const res = await api.create({ parent_id: theirs.status_id })

    expectProblem(res, 422, 'invalid-parent', { reason: 'unknown' })
    expect(await other.snapshot(theirs.status_id)).toEqual(before)
  })

  test('when a tree would be deeper than 5 levels, then 422 invalid-parent, and 5 levels are fine', async () => {
    let parent = await api.createOk({ status: 'processing' })
    for (let level = 2; level <= 5; level++)
      parent = await api.createOk({ parent_id: parent.status_id, status: 'processing' })

    const res = await api.create({ parent_id: parent.status_id })

    expectProblem(res, 422, 'invalid-parent', { reason: 'too-deep' })
    expect((await api.get(parent.status_id)).body.children).toBeNull()
  })

  test('when weight or a policy is not valid, then 400 and nothing is created', async () => {
    for (const body of [
      { weight: 0 },
      { weight: -1 },
      { weight: '2' },
      { on_child_failure: 'explode' },
      { complete_with_children: 'yes' },
      { parent_id: 'has space' },
    ]) {
      const res = await api.create({ status_id: 'bad-group', ...body })
      expectProblem(res, 400, 'validation-failed')
    }
    expect((await api.get('bad-group')).status).toBe(404)
  })
})

describe('the roll-up', () => {
  test('when a child starts, then a pending parent moves to processing in the same transaction', async () => {
    const parent = await api.createOk()
    const child = await api.createOk({ parent_id: parent.status_id })
    const before = await lastSeq()

    await api.updateOk(child.status_id, { new_status: 'processing', progress_percentage: 10 })

    const read = (await api.get(parent.status_id)).body as StatusJson
    expect(read).toMatchObject({ status: 'processing', started_at: expect.any(String) })
    const events = await eventsAfter(before)
    expect(events.map((e) => [e.type, e.status_id])).toEqual([
      ['status.updated', child.status_id],
      ['status.updated', parent.status_id],
    ])
    expect(events[1]!.changes).toMatchObject({ status: ['pending', 'processing'] })
  })

  test('when 1,000 children change in one flush, then the parent is written once with one event', async () => {
    const parent = await api.createOk({ status: 'processing' })
    const ids = Array.from({ length: 1000 }, (_, i) => `kid-${i}`)
    for (let i = 0; i < ids.length; i += 100)
      await Promise.all(
        ids.slice(i, i + 100).map((id) => api.createOk({ status_id: id, parent_id: parent.status_id })),
      )
    const version = ((await api.get(parent.status_id)).body as StatusJson).version
    const before = await lastSeq()

    const res = await t.request
      .post('/api/status/batch?wait=true')
      .set({ Authorization: `Bearer ${api.key}` })
      .send({
        updates: ids.map((status_id, i) => ({
          status_id,
          new_status: 'processing',
          progress_percentage: i % 101,
        })),
      })

    expect(res.status).toBe(200)
    const parentEvents = (await eventsAfter(before)).filter((e) => e.status_id === parent.status_id)
    const read = await expectSummaryMatchesRecount(parent.status_id)
    expect(parentEvents).toHaveLength(1)
    expect(read.version).toBe(version + 1)
    expect(read.children).toMatchObject({ total: 1000, by_status: { processing: 1000 } })
  }, 30_000)

  test('when a child is deleted, then the summary no longer counts it', async () => {
    const parent = await api.createOk({ status: 'processing' })
    const kept = await api.createOk({ parent_id: parent.status_id, progress_percentage: 20 })
    const gone = await api.createOk({ parent_id: parent.status_id, progress_percentage: 80 })

    expect((await api.remove(gone.status_id)).status).toBe(204)

    const read = await expectSummaryMatchesRecount(parent.status_id)
    expect(read.children).toEqual({ total: 1, by_status: { pending: 1 }, progress_percentage: 20 })
    await api.remove(kept.status_id)
    expect((await api.get(parent.status_id)).body.children).toBeNull()
  })

  test('when grandchildren move, then the middle level rolls up into the top in the same transaction', async () => {
    const top = await api.createOk()
    const middle = await api.createOk({ parent_id: top.status_id, complete_with_children: true })
    const leaf = await api.createOk({ parent_id: middle.status_id })

    await api.updateOk(leaf.status_id, { new_status: 'processing' })
    expect((await api.get(top.status_id)).body).toMatchObject({
      status: 'processing',
      children: { total: 1, by_status: { processing: 1 } },
    })

    await api.updateOk(leaf.status_id, { new_status: 'completed' })
    // The leaf completes the middle (complete_with_children), whose 100 % reaches the top.
    expect((await api.get(middle.status_id)).body).toMatchObject({
      status: 'completed',
      progress_percentage: 100,
    })
    expect((await api.get(top.status_id)).body.children).toEqual({
      total: 1,
      by_status: { completed: 1 },
      progress_percentage: 100,
    })
  })

  test('when random child writes run concurrently, then the summary always equals a recount', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            child: fc.integer({ min: 0, max: 5 }),
            op: fc.constantFrom(
              'progress',
              'start',
              'complete',
              'fail',
              'retry',
              'cancel',
              'delete',
              'create',
            ),
            progress: fc.integer({ min: 0, max: 100 }),
          }),
          { minLength: 5, maxLength: 25 },
        ),
        fc.array(fc.double({ min: 0.5, max: 4, noNaN: true }), { minLength: 6, maxLength: 6 }),
        async (ops, weights) => {
          const parent = await api.createOk({ status: 'processing' })
          const id = (n: number) => `${parent.status_id}-c${n}`
          await Promise.all(
            weights.map((weight, n) =>
              api.createOk({ status_id: id(n), parent_id: parent.status_id, weight }),
            ),
          )
          // All at once: the writer takes them in flushes of whatever has arrived.
          await Promise.all(
            ops.map(({ child, op, progress }) => {
              const target = id(child)
              switch (op) {
                case 'progress':
                  return api.update(target, { progress_percentage: progress })
                case 'start':
                  return api.update(target, { new_status: 'processing', progress_percentage: progress })
                case 'complete':
                  return api.update(target, { new_status: 'completed' })
                case 'fail':
                  return api.recordError(target, { error_info: 'boom' })
                case 'retry':
                  return api.recordError(target, { error_info: 'again', should_retry: true })
                case 'cancel':
                  return api.cancel(target)
                case 'delete':
                  return api.remove(target)
                case 'create':
                  return api.create({
                    status_id: id(child),
                    parent_id: parent.status_id,
                    progress_percentage: progress,
                  })
              }
            }),
          )
          await expectSummaryMatchesRecount(parent.status_id)
        },
      ),
      { numRuns: 25 },
    )
  }, 60_000)
})

describe('policies', () => {
  test('when a child of a fail-policy parent fails while its siblings are written in the same flush, then the parent fails naming it', async () => {
    const parent = await api.createOk({ status: 'processing', on_child_failure: 'fail' })
    const [a, b, c] = await Promise.all(
      [0, 1, 2].map(() => api.createOk({ parent_id: parent.status_id, status: 'processing' })),
    )
    const before = await lastSeq()

    // One /batch: the three items are written in one flush.
    const res = await t.request
      .post('/api/status/batch?wait=true')
      .set({ Authorization: `Bearer ${api.key}` })
      .send({
        updates: [
          { status_id: a!.status_id, progress_percentage: 50 },
          { status_id: b!.status_id, new_status: 'failed', message: 'codec crashed' },
          { status_id: c!.status_id, progress_percentage: 70 },
        ],
      })
    expect(res.status).toBe(200)

    const read = (await api.get(parent.status_id)).body as StatusJson
    expect(read).toMatchObject({
      status: 'failed',
      error_info: { code: 'child-failed', details: { status_id: b!.status_id } },
      children: { total: 3, by_status: { processing: 2, failed: 1 } },
    })
    const parentEvents = (await eventsAfter(before)).filter((e) => e.status_id === parent.status_id)
    expect(parentEvents).toHaveLength(1)
    expect(parentEvents[0]).toMatchObject({
      type: 'status.updated',
      changes: { status: ['processing', 'failed'] },
    })
    // The siblings go on: a parent's failure is not theirs.
    expect((await api.get(a!.status_id)).body.status).toBe('processing')
  })

  test('when a child of a continue-policy parent fails, then the parent goes on and only counts it', async () => {
    const parent = await api.createOk({ status: 'processing' })
    const child = await api.createOk({ parent_id: parent.status_id, status: 'processing' })

    await api.recordError(child.status_id, { error_info: 'bad frame' })

    expect((await api.get(parent.status_id)).body).toMatchObject({
      status: 'processing',
      error_info: null,
      children: { by_status: { failed: 1 } },
    })
  })

  test('when every child of a complete_with_children parent completes, then the parent completes, through processing if pending', async () => {
    const parent = await api.createOk({ complete_with_children: true })
    const kids = await Promise.all([0, 1].map(() => api.createOk({ parent_id: parent.status_id })))

    await api.updateOk(kids[0]!.status_id, { new_status: 'cancelled' })
    expect((await api.get(parent.status_id)).body.status).toBe('pending')
    const before = await lastSeq()
    await api.updateOk(kids[1]!.status_id, { new_status: 'processing' })
    await api.updateOk(kids[1]!.status_id, { new_status: 'completed' })

    const read = (await api.get(parent.status_id)).body as StatusJson
    expect(read).toMatchObject({
      status: 'completed',
      progress_percentage: 100,
      started_at: expect.any(String),
      completed_at: expect.any(String),
    })
    const history = (await eventsAfter(before)).filter((e) => e.status_id === parent.status_id)
    expect(history.map((e) => e.changes.status)).toEqual([
      ['pending', 'processing'],
      ['processing', 'completed'],
    ])
  })

  test('when a pending complete_with_children parent has its last child finish in one step, then it passes through processing to completed', async () => {
    const parent = await api.createOk({ complete_with_children: true })
    const child = await api.createOk({ parent_id: parent.status_id, status: 'processing' })
    // A child created processing started its parent.
    await api.update(parent.status_id, { new_status: 'processing' })
    const waiting = await api.createOk({ complete_with_children: true })
    const only = await api.createOk({ parent_id: waiting.status_id })

    await api.cancel(only.status_id)
    await api.updateOk(child.status_id, { new_status: 'completed' })

    expect((await api.get(waiting.status_id)).body).toMatchObject({
      status: 'completed',
      started_at: expect.any(String),
    })
    expect((await api.get(parent.status_id)).body.status).toBe('completed')
  })

  test('when the last child of a complete_with_children parent ends and one had failed, then the parent fails with child-failed', async () => {
    const parent = await api.createOk({ status: 'processing', complete_with_children: true })
    const [a, b] = await Promise.all(
      [0, 1].map(() => api.createOk({ parent_id: parent.status_id, status: 'processing' })),
    )

    await api.recordError(a!.status_id, { error_info: 'disk' })
    expect((await api.get(parent.status_id)).body.status).toBe('processing')
    await api.updateOk(b!.status_id, { new_status: 'completed' })

    expect((await api.get(parent.status_id)).body).toMatchObject({
      status: 'failed',
      error_info: { code: 'child-failed', details: { status_id: a!.status_id } },
    })
  })

  test('when a parent is already terminal, then its children still count in its summary but move it no more', async () => {
    const parent = await api.createOk({ status: 'processing', on_child_failure: 'fail' })
    const child = await api.createOk({ parent_id: parent.status_id, status: 'processing' })
    await api.updateOk(parent.status_id, { new_status: 'completed' })

    await api.recordError(child.status_id, { error_info: 'late' })

    expect((await api.get(parent.status_id)).body).toMatchObject({
      status: 'completed',
      error_info: null,
      children: { by_status: { failed: 1 } },
    })
  })
})

describe('cascades', () => {
  async function tree() {
    const root = await api.createOk({ status: 'processing' })
    const middle = await api.createOk({ parent_id: root.status_id, status: 'processing' })
    const leaves = await Promise.all(
      [0, 1].map(() => api.createOk({ parent_id: middle.status_id, status: 'processing' })),
    )
    const done = await api.createOk({ parent_id: middle.status_id, status: 'processing' })
    await api.updateOk(done.status_id, { new_status: 'completed' })
    return { root, middle, leaves, done }
  }

  test('when a parent is cancelled, then its live descendants of three levels are cancelled in one transaction with one event each', async () => {
    const { root, middle, leaves, done } = await tree()
    const before = await lastSeq()

    const res = await api.cancel(root.status_id)

    expect(res.status).toBe(200)
    const events = await eventsAfter(before)
    const ids = [root, middle, ...leaves].map((s) => s.status_id)
    expect(events.map((e) => e.status_id).sort()).toEqual([...ids].sort())
    expect(events.every((e) => e.type === 'status.cancelled')).toBe(true)
    // One transaction: one commit time, consecutive seqs.
    expect(new Set(events.map((e) => e.occurred_at)).size).toBe(1)
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => before + 1 + i))
    expect((await api.get(done.status_id)).body.status).toBe('completed')
    // The summaries in the same events: the middle's counts its cancelled leaves.
    const middleEvent = events.find((e) => e.status_id === middle.status_id)!
    expect(middleEvent.status.children).toMatchObject({ total: 3, by_status: { completed: 1, cancelled: 2 } })
    await expectSummaryMatchesRecount(middle.status_id)
    await expectSummaryMatchesRecount(root.status_id)
  })

  test('when a parent with children is deleted without cascade, then 409 has-children and nothing changes', async () => {
    const { root, middle } = await tree()
    const before = await api.snapshot(root.status_id)

    const res = await api.remove(root.status_id)

    expectProblem(res, 409, 'has-children', { children: 1 })
    expect(await api.snapshot(root.status_id)).toEqual(before)
    expect((await api.get(middle.status_id)).status).toBe(200)
  })

  test('when a parent is deleted with cascade=true, then it and every descendant go, leaves first, an event each', async () => {
    const { root, middle, leaves, done } = await tree()
    const before = await lastSeq()

    const res = await t.request
      .delete(`/api/status/${root.status_id}?cascade=true`)
      .set({ Authorization: `Bearer ${api.key}` })

    expect(res.status).toBe(204)
    const all = [root, middle, ...leaves, done]
    for (const s of all) expect((await api.get(s.status_id)).status).toBe(404)
    const events = await eventsAfter(before)
    expect(events).toHaveLength(all.length)
    expect(events.every((e) => e.type === 'status.deleted')).toBe(true)
    expect(events.at(-1)!.status_id).toBe(root.status_id)
    expect(events.at(-2)!.status_id).toBe(middle.status_id)
  })

  test('when cascade is not true or false, then 400', async () => {
    const parent = await api.createOk()
    const res = await t.request
      .delete(`/api/status/${parent.status_id}?cascade=yes`)
      .set({ Authorization: `Bearer ${api.key}` })
    expectProblem(res, 400, 'validation-failed')
  })
})

describe('listing by parent', () => {
  test('when parent_id filters, then only its children are listed and other filters apply too', async () => {
    const parent = await api.createOk({ status: 'processing' })
    const other = await api.createOk({ status: 'processing' })
    const a = await api.createOk({ parent_id: parent.status_id, status: 'processing' })
    await api.createOk({ parent_id: parent.status_id })
    await api.createOk({ parent_id: other.status_id, status: 'processing' })

    const res = await api.list(`parent_id=${parent.status_id}&status=processing&include_total=true`)

    expect(res.status).toBe(200)
    expect(res.body.items.map((s: StatusJson) => s.status_id)).toEqual([a.status_id])
    expect(res.body.total).toBe(1)
  })
})
