import { freshTenantApi, statusApi, type StatusApi } from '../helpers/status-api'
import { buildTestApp, type TestApp } from '../helpers/test-app'

// The server's clock is set by each test, so every timestamp can be asserted exactly.
const T0 = Date.parse('2031-01-01T12:00:00.000Z')
let now = T0
const at = (ms: number) => new Date(T0 + ms).toISOString()
const advanceTo = (ms: number) => {
  now = T0 + ms
}

let t: TestApp
let api: StatusApi
beforeAll(async () => {
  t = await buildTestApp({ clock: () => new Date(now) })
  api = statusApi(t, await t.makeKey())
})
afterAll(() => t.close())
beforeEach(() => advanceTo(0))

describe('timestamps', () => {
  test('when a status is created, then created_at and updated_at are the server time in UTC', async () => {
    const created = await api.createOk()

    expect(created).toMatchObject({
      created_at: at(0),
      updated_at: at(0),
      started_at: null,
      completed_at: null,
    })
  })

  test('when a status is updated later, then updated_at moves and created_at stays', async () => {
    const created = await api.createOk()
    advanceTo(5_000)

    const updated = await api.updateOk(created.status_id, { message: 'later' })

    expect(updated).toMatchObject({ created_at: at(0), updated_at: at(5_000) })
  })

  test('when an update changes nothing, then updated_at stays', async () => {
    const created = await api.createOk({ message: 'same' })
    advanceTo(9_000)

    const res = await api.update(created.status_id, { message: 'same' })

    expect(res.body.updated_at).toBe(at(0))
  })

  test('when a pending status starts, then started_at is the time of that first start', async () => {
    const created = await api.createOk()
    advanceTo(3_000)
    await api.updateOk(created.status_id, { new_status: 'starting' })
    advanceTo(4_000)

    const processing = await api.updateOk(created.status_id, { new_status: 'processing' })

    expect(processing).toMatchObject({ started_at: at(3_000), updated_at: at(4_000), completed_at: null })
  })

  test('when a status completes, then completed_at is the time it completed and each event occurred then', async () => {
    const created = await api.createOk({ status: 'processing' })
    advanceTo(7_000)

    const completed = await api.updateOk(created.status_id, { new_status: 'completed' })

    expect(completed).toMatchObject({ started_at: at(0), completed_at: at(7_000), updated_at: at(7_000) })
    const events = await api.allHistory(created.status_id)
    expect(events.map((e) => e.occurred_at)).toEqual([at(0), at(7_000)])
  })

  test('when an error fails a status, then completed_at is set; when it only asks for a retry, then it is not', async () => {
    const retried = await api.createOk({ status: 'processing' })
    const failed = await api.createOk({ status: 'processing' })
    advanceTo(2_000)

    const retry = await api.recordError(retried.status_id, { error_info: 'x', should_retry: true })
    const fail = await api.recordError(failed.status_id, { error_info: 'x', should_retry: false })

    expect(retry.body).toMatchObject({ status: 'retry_pending', completed_at: null, updated_at: at(2_000) })
    expect(fail.body).toMatchObject({ status: 'failed', completed_at: at(2_000), updated_at: at(2_000) })
  })

  test('when a status is cancelled, then completed_at is the cancel time', async () => {
    const created = await api.createOk({ status: 'processing' })
    advanceTo(1_500)

    const res = await api.cancel(created.status_id)

    expect(res.body).toMatchObject({ completed_at: at(1_500), updated_at: at(1_500) })
  })

  test('when a status is deleted, then the deletion event occurred at the deletion time', async () => {
    const tenant = await freshTenantApi(t, 'timestamps')
    const created = await tenant.createOk()
    advanceTo(8_000)

    await tenant.remove(created.status_id)

    const [, deleted] = await tenant.allEvents()
    expect(deleted).toMatchObject({
      type: 'status.deleted',
      occurred_at: at(8_000),
      status: { updated_at: at(8_000) },
    })
  })
})

describe('estimated_completion_at', () => {
  test('when a started status reports progress, then the estimate projects the average rate since the start to 100 %', async () => {
    const created = await api.createOk({ status: 'processing' })
    advanceTo(10_000)

    const quarter = await api.updateOk(created.status_id, { progress_percentage: 25 })
    advanceTo(30_000)
    const slower = await api.updateOk(created.status_id, { progress_percentage: 50 })

    expect(quarter.estimated_completion_at).toBe(at(40_000))
    expect(slower.estimated_completion_at).toBe(at(60_000))
  })

  test('when a status has not started, then the estimate measures from its creation', async () => {
    const created = await api.createOk()
    advanceTo(30_000)

    const updated = await api.updateOk(created.status_id, { progress_percentage: 75 })

    expect(updated.estimated_completion_at).toBe(at(40_000))
  })

  test('when progress is 0, then there is no estimate', async () => {
    const created = await api.createOk({ status: 'processing', progress_percentage: 10 })
    advanceTo(10_000)

    const updated = await api.updateOk(created.status_id, { progress_percentage: 0 })

    expect(updated.estimated_completion_at).toBeNull()
  })

  test('when a status completes, then its estimate is cleared', async () => {
    const created = await api.createOk({ status: 'processing' })
    advanceTo(10_000)
    await api.updateOk(created.status_id, { progress_percentage: 50 })
    advanceTo(15_000)

    const completed = await api.updateOk(created.status_id, { new_status: 'completed' })

    expect(completed.estimated_completion_at).toBeNull()
  })

  test('when the same progress is reported later, then only the estimate would move, so nothing is written', async () => {
    const created = await api.createOk({ status: 'processing' })
    advanceTo(10_000)
    const first = await api.updateOk(created.status_id, { progress_percentage: 50 })
    advanceTo(20_000)

    const again = await api.update(created.status_id, { progress_percentage: 50 })

    expect(again.body).toMatchObject({ version: 2, estimated_completion_at: first.estimated_completion_at })
    expect(await api.allHistory(created.status_id)).toHaveLength(2)
  })
})
