import pino from 'pino'
import supertest from 'supertest'
import { createApp } from '../../src/app'
import type { Services } from '../../src/services'
import { expectProblem, statusApi, type StatusApi } from '../helpers/status-api'
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

/** The same app over the given services (health, metrics and unknown routes are in health.test.ts). */
function appWith(services: Services) {
  return supertest(
    createApp({
      services,
      logger: pino({ level: 'silent' }),
      rateLimit: { rps: 1000, burst: 2000 },
      checkReady: async () => {},
    }).listener,
  )
}

describe('errors outside the status rules', () => {
  test('when a method is not served on a status path, then 404 route-not-found', async () => {
    const res = await t.request.patch('/api/status/abc').set(bearer(key)).send({ progress_percentage: 1 })

    expectProblem(res, 404, 'route-not-found')
  })

  test('when the body has an unsupported charset, then 415 unsupported-encoding', async () => {
    const res = await t.request
      .post('/api/status')
      .set(bearer(key))
      .set('Content-Type', 'application/json; charset=latin1')
      .send('{}')

    expectProblem(res, 415, 'unsupported-encoding')
  })

  test('when the body has an unsupported content encoding, then 415 unsupported-encoding', async () => {
    const res = await t.request
      .post('/api/status')
      .set(bearer(key))
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'compress')
      .send('{}')

    expectProblem(res, 415, 'unsupported-encoding')
  })

  test('when something unexpected fails, then 500 internal-error without the internal message', async () => {
    const created = await api.createOk()
    const broken = {
      ...t.services,
      statuses: {
        ...t.services.statuses,
        get: async () => {
          throw new Error('SQLITE_CORRUPT: secret internals')
        },
      },
    }
    const request = appWith(broken)

    const res = await request.get(`/api/status/${created.status_id}`).set(bearer(key))

    expectProblem(res, 500, 'internal-error')
    expect(JSON.stringify(res.body)).not.toContain('secret internals')
  })
})
