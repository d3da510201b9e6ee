import type { ServiceTarget } from './fixtures'
import type { LoadSettings } from './load'
import type { BenchOptions } from './options'
import type { ChildServer } from './processes'
import type { DatabaseProvider, StoreAccess } from './store'

/** What every section is given: the service under test, its store, the ceiling, and ways to start more. */
export interface BenchContext {
  service: ServiceTarget & {
    cpuMs(): number | null
    /** The tenant of `apiKey`. */
    tenantId: string
  }
  /** The service's database, for fixtures and the feed's head (store.ts). */
  store: StoreAccess
  /** The store under test: fresh databases for scenarios that need their own, and its CPU time. */
  database: DatabaseProvider
  hello: { url: string; cpuMs(): number | null }
  settings: LoadSettings
  options: BenchOptions
  /** Seconds measured, and warmed up, by each part of the batch, fan-out and latency scenarios. */
  part: { durationSec: number; warmupSec: number }
  rootDir: string
  tmpDir: string
  /** `count` statuses with ids `<prefix>-NNNN`, created on first use and shared by later scenarios. */
  statusIds(prefix: string, count: number): Promise<string[]>
  /**
   * `count` statuses with ids `<prefix>-NNNNN`: one created through the API, copied in the database
   * (fast; see sqlite.ts). Created on first use and shared by later scenarios.
   */
  clonedIds(prefix: string, count: number): Promise<string[]>
  /** Starts `scripts/bench/<script>` as a worker with an IPC channel; stopped with the servers. */
  startWorker(name: string, script: string, nodeArgs?: string[]): ChildServer
  /** Another process of the built service on the same database (same admin key), e.g. a second instance. */
  startInstance(name: string, env?: NodeJS.ProcessEnv): Promise<ChildServer>
  /** Starts `scripts/bench/<script>` as a server on a free port; ready when `/health` answers. */
  startServer(name: string, script: string): Promise<ChildServer>
}
