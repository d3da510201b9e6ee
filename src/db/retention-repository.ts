import { Prisma, type Database } from './prisma'

/**
 * The deletes of retention, each one batch of at most `limit` rows in a transaction of its own, so a
 * long purge never holds the writer for long. Which rows are old enough is the caller's policy.
 */
export function createRetentionRepository(db: Pick<Database, 'read' | 'write'>) {
  return {
    async tenants(): Promise<string[]> {
      const rows = await db.read.$queryRaw<{ id: string }[]>`SELECT id FROM tenants ORDER BY id`
      return rows.map((row) => row.id)
    },

    async webhooksOf(tenantId: string): Promise<string[]> {
      const rows = await db.read.$queryRaw<{ id: string }[]>`
        SELECT id FROM webhooks WHERE tenant_id = ${tenantId} ORDER BY id`
      return rows.map((row) => row.id)
    },

    /** Deletes up to `limit` of the tenant's statuses in `states` last updated before `before`, and their logs. */
    purgeStatuses(tenantId: string, states: string[], before: Date, limit: number): Promise<number> {
      return db.write(async (tx) => {
        const rows = await tx.$queryRaw<{ status_id: string }[]>`SELECT status_id FROM statuses
          WHERE tenant_id = ${tenantId} AND status IN (${Prisma.join(states)}) AND updated_at < ${before}
          LIMIT ${limit}`
        if (rows.length === 0) return 0
        const ids = Prisma.join(rows.map((row) => row.status_id))
        await tx.$executeRaw`DELETE FROM status_logs WHERE tenant_id = ${tenantId} AND status_id IN (${ids})`
        return tx.$executeRaw`DELETE FROM statuses WHERE tenant_id = ${tenantId} AND status_id IN (${ids})`
      })
    },

    /** Deletes up to `limit` events from the front of the tenant's feed, up to the first to keep. */
    purgeEvents(tenantId: string, before: Date, limit: number): Promise<number> {
      return db.write(async (tx) => {
        const front = await tx.$queryRaw<{ seq: bigint | number; old: bigint | number }[]>`
          SELECT seq, occurred_at < ${before} AS old FROM status_events
          WHERE tenant_id = ${tenantId} ORDER BY seq LIMIT ${limit}`
        const keep = front.findIndex((row) => !Number(row.old))
        const purgeable = keep === -1 ? front : front.slice(0, keep)
        if (purgeable.length === 0) return 0
        const last = purgeable[purgeable.length - 1]!.seq
        return tx.$executeRaw`DELETE FROM status_events WHERE tenant_id = ${tenantId} AND seq <= ${last}`
      })
    },

    /** Deletes up to `limit` of a webhook's finished deliveries of events before the tenant's oldest. */
    purgeDeliveries(tenantId: string, webhookId: string, limit: number): Promise<number> {
      return db.write(async (tx) => {
        const rows = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM webhook_deliveries
          WHERE webhook_id = ${webhookId} AND state IN ('delivered', 'dead')
            AND seq < COALESCE((SELECT MIN(seq) FROM status_events WHERE tenant_id = ${tenantId}),
                               (SELECT last_seq + 1 FROM tenants WHERE id = ${tenantId}))
          LIMIT ${limit}`
        if (rows.length === 0) return 0
        const ids = Prisma.join(rows.map((row) => row.id))
        await tx.$executeRaw`DELETE FROM webhook_attempts WHERE delivery_id IN (${ids})`
        return tx.$executeRaw`DELETE FROM webhook_deliveries WHERE id IN (${ids})`
      })
    },
  }
}

export type RetentionRepository = ReturnType<typeof createRetentionRepository>
