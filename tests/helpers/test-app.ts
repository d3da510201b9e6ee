import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import supertest from 'supertest'
import { createApp } from '../../src/app'
import { openDatabase, type PrismaClient } from '../../src/db/prisma'
import { createServices, type Services } from '../../src/services'
import type { Scope } from '../../src/services/api-key-service'

export interface TestAppOptions {
  rateLimit?: { rps: number; burst: number }
  clock?: () => Date
  idempotencyTtlHours?: number
}

export interface TestApp {
  request: ReturnType<typeof supertest>
  services: Services
  prisma: PrismaClient
  /** An admin key of tenant `default`. */
  adminKey: string
  /** A new key in `tenant` (created when new) with the given scopes. */
  makeKey(tenant?: string, scopes?: Scope[]): Promise<string>
  close(): Promise<void>
}

/** The real app over a real SQLite file of its own, as server.ts builds it but without listening. */
export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-test-'))
  const prisma = await openDatabase({ url: `file:${path.join(dir, 'status.db')}` })
  const services = await createServices({
    prisma,
    clock: options.clock,
    idempotencyTtlHours: options.idempotencyTtlHours,
  })
  const app = createApp({
    services,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    rateLimit: options.rateLimit ?? { rps: 100_000, burst: 200_000 },
    checkReady: async () => {
      await prisma.$queryRaw`SELECT 1`
    },
  })
  const makeKey = async (tenant = 'default', scopes: Scope[] = ['status:read', 'status:write']) =>
    (await services.apiKeys.create(tenant, scopes)).secret
  return {
    request: supertest(app),
    services,
    prisma,
    adminKey: await makeKey('default', ['admin']),
    makeKey,
    async close() {
      await prisma.$disconnect()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` })
