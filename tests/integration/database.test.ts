import { openDatabase, type Database } from '../../src/db/prisma'
import { createTestDatabase, type TestDatabase } from '../helpers/test-database'

let store: TestDatabase
let db: Database

beforeEach(async () => {
  store = await createTestDatabase('db')
  db = await openDatabase({ url: store.url })
})
afterEach(async () => {
  await db.close()
  await store.drop()
})

const keys = async () => (await db.read.setting.findMany({ orderBy: { key: 'asc' } })).map((s) => s.key)

describe('the database handle', () => {
  test('when a transaction is still open, then a read does not see its uncommitted rows', async () => {
    let release!: () => void
    let written!: () => void
    const open = new Promise<void>((resolve) => (release = resolve))
    const insertDone = new Promise<void>((resolve) => (written = resolve))
    const tx = db
      .write(async (tx) => {
        await tx.setting.create({ data: { key: 'uncommitted', value: '1' } })
        written()
        await open
        throw new Error('roll back')
      })
      .catch((err: Error) => err.message)

    // The row is in the open transaction before the read, so not seeing it means isolation.
    await insertDone
    expect(await keys()).toEqual([])
    release()
    expect(await tx).toBe('roll back')
    expect(await keys()).toEqual([])
  })

  test('when one transaction rolls back, then a write queued beside it still commits', async () => {
    let release!: () => void
    const open = new Promise<void>((resolve) => (release = resolve))
    const failing = db
      .write(async (tx) => {
        await tx.setting.create({ data: { key: 'doomed', value: '1' } })
        await open
        throw new Error('roll back')
      })
      .catch(() => undefined)
    const other = db.write((tx) => tx.setting.create({ data: { key: 'kept', value: '1' } }))
    release()
    await Promise.all([failing, other])
    expect(await keys()).toEqual(['kept'])
  })

  test('when closed twice, then both calls resolve, once the direct reads are closed', async () => {
    const before = await db.direct.get<{ one: number }>('SELECT 1 AS one', [])

    const closes = await Promise.all([db.close(), db.close()])

    expect(before).toEqual({ one: 1 })
    expect(closes).toEqual([undefined, undefined])
    // The direct connections are closed, so the same read now fails instead of answering.
    await expect(Promise.resolve().then(() => db.direct.get('SELECT 1 AS one', []))).rejects.toThrow()
    // A third close, after the fact, still resolves.
    await expect(db.close()).resolves.toBeUndefined()
  })

  test('when the database is reachable, then ping resolves', async () => {
    await expect(db.ping()).resolves.toBeUndefined()
  })
})
