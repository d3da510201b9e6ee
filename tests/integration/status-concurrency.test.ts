import { openDatabase, type Database } from '../../src/db/prisma'
import { createServices, type Services } from '../../src/services'
import type { StatusService } from '../../src/services/status-service'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'

// Every write is a command to the one writer, which applies a flush's commands in arrival order. These
// tests race real writers against one status on a real database.
let store: TestDatabase
let db: Database
let services: Services
let service: StatusService

beforeAll(async () => {
  store = await createTestDatabase('race')
  db = await openDatabase({ url: store.url })
  services = await createServices({ db })
  await services.apiKeys.create('acme', ['admin'])
  service = services.statuses
})
afterAll(async () => {
  await services.stop()
  await store.drop()
})

const settle = <T>(promises: Promise<T>[]) => Promise.allSettled(promises)
const codes = (results: PromiseSettledResult<unknown>[]) =>
  results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code)).sort()

test('when writers race on one status, then every write lands exactly once in version order', async () => {
  await service.create('acme', { status_id: 'race-1' })
  await Promise.all(
    Array.from({ length: 25 }, (_, i) => service.update('acme', 'race-1', { message: `m${i}` })),
  )
  const final = await service.get('acme', 'race-1')
  const history = await service.history('acme', 'race-1', { limit: 100 })
  expect(final.version).toBe(26)
  expect(history.items.map((e) => e.version)).toEqual(Array.from({ length: 26 }, (_, i) => i + 1))
})

test('when 50 writers update one status with If-Match at the same version, then exactly one wins per version and the rest are 412', async () => {
  await service.create('acme', { status_id: 'race-2' })
  const round = (version: number) =>
    settle(
      Array.from({ length: 50 }, (_, i) =>
        service.update('acme', 'race-2', { message: `v${version} m${i}` }, { expectedVersion: version }),
      ),
    )

  const first = codes(await round(1))
  const second = codes(await round(2))

  const expected = ['ok', ...Array(49).fill('version-mismatch')].sort()
  expect(first).toEqual(expected)
  expect(second).toEqual(expected)
  const history = await service.history('acme', 'race-2', { limit: 10 })
  expect(history.items.map((e) => e.version)).toEqual([1, 2, 3])
  expect((await service.get('acme', 'race-2')).version).toBe(3)
})

test('when deletes race, then one deletes and the others find nothing', async () => {
  await service.create('acme', { status_id: 'race-3' })
  const outcome = codes(await settle(Array.from({ length: 5 }, () => service.remove('acme', 'race-3'))))
  expect(outcome).toEqual([
    'ok',
    'status-not-found',
    'status-not-found',
    'status-not-found',
    'status-not-found',
  ])
  const deletions = (await service.history('acme', 'race-3', { limit: 10 })).items.filter(
    (e) => e.type === 'status.deleted',
  )
  expect(deletions).toHaveLength(1)
})

test('when reports with nothing new race, then the newest reported_at is kept whatever order they land in', async () => {
  await service.create('acme', { status_id: 'race-4', message: 'same' })
  const base = Date.parse('2026-01-01T00:00:00Z')
  // Newest first: every later writer read the status before the newer report landed.
  await Promise.all(
    [7, 6, 5, 4, 3, 2, 1, 0].map((i) =>
      service.update('acme', 'race-4', { message: 'same', reported_at: new Date(base + i * 1000) }),
    ),
  )
  const older = await service.update('acme', 'race-4', {
    message: 'older',
    reported_at: new Date(base + 6500),
  })
  expect(older.result.applied).toBe(false)
  expect((await service.get('acme', 'race-4')).version).toBe(1)
})
