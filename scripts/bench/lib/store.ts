// The store under test as the bench sees it: how to name a fresh database, copy fixtures in bulk and
// read the feed's head, on SQLite (sqlite.ts) or PostgreSQL (postgres.ts) alike.
import type { DbKind } from './options'
import { cloneStatusesPg, openFeedHeadPg } from './postgres'
import { cloneStatuses, openFeedHead } from './sqlite'

export interface FeedHead {
  /** `tenants.last_seq`: every event ever committed for the tenant. */
  lastSeq(): Promise<number>
  close(): Promise<void>
}

export interface StoreAccess {
  kind: DbKind
  /** The service's DATABASE_URL. */
  url: string
  /** See sqlite.ts cloneStatuses. */
  cloneStatuses(tenantId: string, templateId: string, prefix: string, count: number): Promise<string[]>
  openFeedHead(tenantId: string): Promise<FeedHead>
}

export const storeKind = (url: string): DbKind => (/^postgres(ql)?:\/\//.test(url) ? 'postgres' : 'sqlite')

export function storeAccess(url: string): StoreAccess {
  if (storeKind(url) === 'postgres') {
    return {
      kind: 'postgres',
      url,
      cloneStatuses: (tenantId, templateId, prefix, count) =>
        cloneStatusesPg(url, tenantId, templateId, prefix, count),
      openFeedHead: (tenantId) => openFeedHeadPg(url, tenantId),
    }
  }
  const file = url.replace(/^file:/, '')
  return {
    kind: 'sqlite',
    url,
    cloneStatuses: async (tenantId, templateId, prefix, count) =>
      cloneStatuses(file, tenantId, templateId, prefix, count),
    async openFeedHead(tenantId) {
      const head = openFeedHead(file, tenantId)
      return {
        lastSeq: async () => head.lastSeq(),
        close: async () => {
          head.close()
        },
      }
    },
  }
}

/** Where each scenario gets a database of its own, and what the database's own processes cost. */
export interface DatabaseProvider {
  kind: DbKind
  /** "SQLite 3.x (in-process)" or "PostgreSQL 15.x". */
  label: string
  /** A fresh, empty database's URL; `name` is a hint (a file name or a database name prefix). */
  create(name: string): Promise<string>
  /** CPU ms used so far by the database's own processes; 0 for SQLite, which runs inside the service. */
  cpuMs(): number | null
}
