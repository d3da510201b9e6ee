import { createIdempotencyRepository } from '../../src/db/idempotency-repository'
import { openDatabase, type Database } from '../../src/db/prisma'
import { createStatusRepository } from '../../src/db/status-repository'
import { createServices } from '../../src/services'
import { createCursorCodec } from '../../src/services/cursor-codec'
import { createStatusService, type StatusService } from '../../src/services/status-service'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'

// Writes are optimistic: they read the committed status and write only if it is still at that version.
// These tests race real writers against one status on a real database.
let store: TestDatabase
let db: Database
let service: StatusService

const buildService = (maxWriteAttempts?: number) =>
  createStatusService({
    db,
    statuses: createStatusRepository(db),
    idempotency: createIdempotencyRepository(db.dialect),
    cursors: createCursorCodec('test'),
    clock: () => new Date(),
    idempotencyTtlMs: 3_600_000,
    maxWriteAttempts,
  })

beforeAll(async () => {
  store = await createTestDatabase('race')
  db = await openDatabase({ url: store.url })
  const services = await createServices({ db })
  await services.apiKeys.create('acme', ['admin'])
  service = buildService()
})
afterAll(async () => {
  await db.close()
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

test('when a writer may not retry a lost race, then it answers write-conflict and changes nothing', async () => {
  const impatient = buildService(1)
  await service.create('acme', { status_id: 'race-2' })
  const results = await settle(
    Array.from({ length: 10 }, (_, i) => impatient.update('acme', 'race-2', { message: `m${i}` })),
  )
  const outcome = codes(results)
  const won = outcome.filter((c) => c === 'ok').length
  expect(won).toBeGreaterThanOrEqual(1)
  expect(outcome).toContain('write-conflict')
  expect(outcome.filter((c) => c !== 'ok').every((c) => c === 'write-conflict')).toBe(true)
  expect((await service.get('acme', 'race-2')).version).toBe(1 + won)
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
