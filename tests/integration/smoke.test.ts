import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import { makeStatus } from '../helpers/factories'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

test('when a status is created, then it can be read back', async () => {
  const body = makeStatus()
  const created = await t.request.post('/api/status').set(bearer(t.adminKey)).send(body)
  expect(created.status).toBe(201)
  const read = await t.request.get(`/api/status/${body.status_id}`).set(bearer(t.adminKey))
  expect(read.body.status_id).toBe(body.status_id)
})
