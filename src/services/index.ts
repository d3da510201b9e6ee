import { randomBytes } from 'node:crypto'
import { createIdempotencyRepository } from '../db/idempotency-repository'
import { createKeyRepository } from '../db/key-repository'
import type { Database } from '../db/prisma'
import { createSettingsRepository } from '../db/settings-repository'
import { createStatusRepository } from '../db/status-repository'
import { createApiKeyService } from './api-key-service'
import { createCursorCodec } from './cursor-codec'
import { createStatusFilterService } from './status-filter-service'
import { createStatusService } from './status-service'

export interface ServiceOptions {
  db: Database
  clock?: () => Date
  idempotencyTtlHours?: number
}

/** Wires repositories and services over one Prisma client; used by the server and by tests alike. */
export async function createServices({ db, clock = () => new Date(), idempotencyTtlHours = 24 }: ServiceOptions) {
  // Kept in the database so cursors survive restarts and work across instances.
  const settings = createSettingsRepository()
  const cursorSecret = await db.write((tx) =>
    settings.getOrCreate(tx, 'cursor_secret', () => randomBytes(32).toString('base64url')),
  )
  const cursors = createCursorCodec(cursorSecret)
  const statuses = createStatusService({
    db,
    statuses: createStatusRepository(db.direct),
    idempotency: createIdempotencyRepository(),
    cursors,
    clock,
    idempotencyTtlMs: idempotencyTtlHours * 3_600_000,
  })
  return {
    statuses,
    filters: createStatusFilterService({ db, cursors }),
    apiKeys: createApiKeyService({ db, keys: createKeyRepository(), clock }),
  }
}

export type Services = Awaited<ReturnType<typeof createServices>>
