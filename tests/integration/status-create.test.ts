import { makeStatus } from '../helpers/factories'
import { expectProblem, RFC3339_UTC, statusApi, UUID, type StatusApi } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

let t: TestApp
let key: string
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp()
  key = await t.makeKey()
  api = statusApi(t, key)
})
afterAll(() => t.close())

describe('POST /api/status', () => {
  test('when no status_id is given, then the server generates one and answers 201 with Location and ETag "1"', async () => {
    const { status_id: _omitted, ...body } = makeStatus()

    const res = await api.create(body)

    expect(res.status).toBe(201)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.body.status_id).toMatch(UUID)
    expect(res.headers.location).toBe(`/api/status/${res.body.status_id}`)
    expect(res.headers.etag).toBe('"1"')
    const read = await api.get(res.body.status_id)
    expect(read.status).toBe(200)
    expect(read.body).toEqual(res.body)
  })

  test('when two statuses are created without ids, then each gets a different id', async () => {
    const { status_id: _a, ...first } = makeStatus()
    const { status_id: _b, ...second } = makeStatus()

    const [a, b] = [await api.create(first), await api.create(second)]

    expect([a.status, b.status]).toEqual([201, 201])
    expect(a.body.status_id).not.toBe(b.body.status_id)
  })

  test('when the client supplies a status_id, then it is kept and the Location points at it', async () => {
    const body = makeStatus({ status_id: `client.Id_with:all-chars-${Date.now()}` })

    const res = await api.create(body)

    expect(res.status).toBe(201)
    expect(res.body.status_id).toBe(body.status_id)
    expect(res.headers.location).toBe(`/api/status/${encodeURIComponent(body.status_id!)}`)
    const read = await t.request.get(res.headers.location).set(bearer(key))
    expect(read.status).toBe(200)
    expect(read.body.status_id).toBe(body.status_id)
  })

  test('when a status_id of exactly 128 characters is given, then it is accepted', async () => {
    const id = 'x'.repeat(120) + Math.random().toString(36).slice(2, 10).padEnd(8, '0')

    const res = await api.create(makeStatus({ status_id: id }))

    expect(res.status).toBe(201)
    expect(res.body.status_id).toHaveLength(128)
  })

  test('when the status_id already exists, then 409 status-already-exists and the first status is untouched', async () => {
    const original = await api.createOk({ message: 'first' })
    const before = await api.snapshot(original.status_id)

    const res = await api.create(makeStatus({ status_id: original.status_id, message: 'second' }))

    expectProblem(res, 409, 'status-already-exists', { status_id: original.status_id })
    expect(await api.snapshot(original.status_id)).toEqual(before)
    expect(before.events).toHaveLength(1)
  })

  test('when the same status_id is created by several clients at once, then one gets 201 and the rest 409', async () => {
    const body = makeStatus()

    const results = await Promise.all([1, 2, 3, 4].map(() => api.create(body)))

    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409])
    for (const res of results.filter((r) => r.status === 409))
      expectProblem(res, 409, 'status-already-exists')
    expect(await api.allHistory(body.status_id!)).toHaveLength(1)
  })

  test('when the body is empty, then a pending status with the SPEC §1 defaults is created', async () => {
    const res = await api.create({})

    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      status_id: expect.stringMatching(UUID),
      kind: null,
      resource_id: null,
      status: 'pending',
      priority: 'normal',
      progress_percentage: 0,
      message: null,
      steps_completed: null,
      steps_total: null,
      error_info: null,
      retry_count: 0,
      max_retries: 3,
      metadata: {},
      tags: [],
      version: 1,
      created_at: expect.stringMatching(RFC3339_UTC),
      updated_at: res.body.created_at,
      started_at: null,
      completed_at: null,
      estimated_completion_at: null,
      heartbeat_timeout_s: null,
      start_by: null,
      deadline_at: null,
      last_heartbeat_at: null,
      parent_id: null,
      weight: 1,
      on_child_failure: 'continue',
      complete_with_children: false,
      children: null,
    })
  })

  test('when every optional field is given, then each is stored as sent', async () => {
    const body = makeStatus({
      kind: 'report.build',
      resource_id: 'report:7',
      priority: 'critical',
      progress_percentage: 12.5,
      message: 'queued behind 3 others',
      max_retries: 7,
      metadata: { owner: 'ops', nested: { depth: [1, 2] } },
      tags: ['nightly', 'eu'],
    })

    const res = await api.create(body)

    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      status_id: body.status_id,
      kind: 'report.build',
      resource_id: 'report:7',
      priority: 'critical',
      progress_percentage: 12.5,
      message: 'queued behind 3 others',
      max_retries: 7,
      metadata: { owner: 'ops', nested: { depth: [1, 2] } },
      tags: ['nightly', 'eu'],
    })
    expect((await api.get(body.status_id!)).body).toEqual(res.body)
  })

  test('when steps_completed and steps_total are given without progress, then progress is derived from them', async () => {
    const res = await api.create(makeStatus({ steps_completed: 3, steps_total: 8 }))

    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ steps_completed: 3, steps_total: 8, progress_percentage: 37.5 })
  })

  test('when steps give a repeating fraction, then the derived progress is rounded to two decimals', async () => {
    const res = await api.create(makeStatus({ steps_completed: 1, steps_total: 3 }))

    expect(res.body.progress_percentage).toBe(33.33)
  })

  test('when both steps and progress_percentage are given, then the explicit progress wins', async () => {
    const res = await api.create(makeStatus({ steps_completed: 3, steps_total: 8, progress_percentage: 90 }))

    expect(res.body.progress_percentage).toBe(90)
  })

  test('when steps_total is 0, then no progress is derived and it stays 0', async () => {
    const res = await api.create(makeStatus({ steps_completed: 0, steps_total: 0 }))

    expect(res.status).toBe(201)
    expect(res.body.progress_percentage).toBe(0)
  })

  test('when only one of the step fields is given, then progress stays at its default', async () => {
    const res = await api.create(makeStatus({ steps_completed: 4 }))

    expect(res.body).toMatchObject({ steps_completed: 4, steps_total: null, progress_percentage: 0 })
  })

  test.each(['starting', 'processing'] as const)(
    'when created as %s, then started_at is set to the creation time',
    async (status) => {
      const res = await api.create(makeStatus({ status }))

      expect(res.status).toBe(201)
      expect(res.body.status).toBe(status)
      expect(res.body.started_at).toBe(res.body.created_at)
      expect(res.body.completed_at).toBeNull()
    },
  )

  test.each(['pending', 'retry_pending'] as const)(
    'when created as %s, then started_at and completed_at stay null',
    async (status) => {
      const res = await api.create(makeStatus({ status }))

      expect(res.body).toMatchObject({ status, started_at: null, completed_at: null })
    },
  )

  test('when created as completed, then progress is forced to 100 and completed_at is set', async () => {
    const res = await api.create(makeStatus({ status: 'completed', progress_percentage: 20 }))

    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      status: 'completed',
      progress_percentage: 100,
      completed_at: res.body.created_at,
    })
    expect(res.body.estimated_completion_at).toBeNull()
  })

  test.each(['failed', 'cancelled'] as const)(
    'when created as %s, then completed_at is set and the progress is kept',
    async (status) => {
      const res = await api.create(makeStatus({ status, progress_percentage: 40 }))

      expect(res.body).toMatchObject({ status, progress_percentage: 40, completed_at: res.body.created_at })
    },
  )

  test('when a status is created, then one status.created event with version 1 and no changes is written', async () => {
    const created = await api.createOk()

    const events = await api.allHistory(created.status_id)

    expect(events).toEqual([
      expect.objectContaining({
        type: 'status.created',
        status_id: created.status_id,
        version: 1,
        changes: {},
      }),
    ])
    expect(events[0]!.status).toEqual(created)
    expect(events[0]!.occurred_at).toBe(created.created_at)
  })
})

describe('GET /api/status/:id', () => {
  test('when the status exists, then 200 with the record and its ETag', async () => {
    const created = await api.createOk()

    const res = await api.get(created.status_id)

    expect(res.status).toBe(200)
    expect(res.headers.etag).toBe('"1"')
    expect(res.body).toEqual(created)
  })

  test('when the id is unknown, then 404 status-not-found', async () => {
    const res = await api.get('does-not-exist')

    expectProblem(res, 404, 'status-not-found')
  })

  test('when the id belongs to another tenant, then 404 as if it did not exist', async () => {
    const created = await api.createOk()
    const other = statusApi(t, await t.makeKey('create-other-tenant'))

    const res = await other.get(created.status_id)

    expectProblem(res, 404, 'status-not-found')
  })

  test('when two tenants use the same client status_id, then each has its own status', async () => {
    const body = makeStatus()
    const other = statusApi(t, await t.makeKey('create-same-id-tenant'))

    const [mine, theirs] = [
      await api.create({ ...body, message: 'mine' }),
      await other.create({ ...body, message: 'theirs' }),
    ]

    expect([mine.status, theirs.status]).toEqual([201, 201])
    expect((await api.get(body.status_id!)).body.message).toBe('mine')
    expect((await other.get(body.status_id!)).body.message).toBe('theirs')
  })

  test('when If-None-Match carries the current ETag, then 304 with no body', async () => {
    const created = await api.createOk()

    const res = await api.get(created.status_id, { 'If-None-Match': '"1"' })

    expect(res.status).toBe(304)
    expect(res.headers.etag).toBe('"1"')
    expect(res.text ?? '').toBe('')
  })

  test('when If-None-Match carries an older ETag, then 200 with the new record and ETag', async () => {
    const created = await api.createOk()
    await api.updateOk(created.status_id, { progress_percentage: 10 })

    const res = await api.get(created.status_id, { 'If-None-Match': '"1"' })

    expect(res.status).toBe(200)
    expect(res.headers.etag).toBe('"2"')
    expect(res.body).toMatchObject({ version: 2, progress_percentage: 10 })
  })
})
