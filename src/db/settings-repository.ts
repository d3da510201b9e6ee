import type { Db } from './prisma'

export function createSettingsRepository() {
  return {
    /** Returns the stored value, storing `make()` first when there is none (first writer wins). */
    async getOrCreate(db: Db, key: string, make: () => string): Promise<string> {
      await db.setting.upsert({ where: { key }, create: { key, value: make() }, update: {} })
      const row = await db.setting.findUniqueOrThrow({ where: { key } })
      return row.value
    },
  }
}
