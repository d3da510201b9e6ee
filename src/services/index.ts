import { randomBytes } from 'node:crypto'
import { createIdempotencyRepository } from '../db/idempotency-repository'
import { createKeyRepository } from '../db/key-repository'
import type { PrismaClient } from '../db/prisma'
import { createSettingsRepository } from '../db/settings-repository'
import { createStatusRepository } from '../db/status-repository'
import { createApiKeyService } from './api-key-service'
import { createCursorCodec } from './cursor-codec'
import { createStatusFilterService } from './status-filter-service'
import { createStatusService } from './status-service'

export interface ServiceOptions {
  prisma: PrismaClient
  clock?: () => Date
  idempotencyTtlHours?: number
}

/** Wires repositories and services over one Prisma client; used by the server and by tests alike. */
export async function createServices({ prisma, clock = () => new Date(), idempotencyTtlHours = 24 }: ServiceOptions) {
  // Kept in the database so cursors survive restarts and work across instances.
  const cursorSecret = await createSettingsRepository().getOrCreate(prisma, 'cursor_secret', () =>
    randomBytes(32).toString('base64url'),
  )
  const cursors = createCursorCodec(cursorSecret)
  const statuses = createStatusService({
    prisma,
    statuses: createStatusRepository(),
    idempotency: createIdempotencyRepository(),
    cursors,
    clock,
    idempotencyTtlMs: idempotencyTtlHours * 3_600_000,
  })
  return {
    statuses,
    filters: createStatusFilterService({ prisma, cursors }),
    apiKeys: createApiKeyService({ prisma, keys: createKeyRepository(), clock }),
  }
}

export type Services = Awaited<ReturnType<typeof createServices>>
