// The SIGKILL trials both stores run: the built server under concurrent writes, killed at a random moment
// and restarted on the same database, `trials` times, with the ledger and feed checked after each restart.
import {
  replayPendingCreates,
  startLoad,
  storeViolations,
  type PendingCreate,
  type Random,
} from '../helpers/chaos-load'
import { Ledger } from '../helpers/ledger'
import { startServerProcess } from '../helpers/server-process'
import { sleep } from '../helpers/wait'

// The load must never meet the rate limit: a 429 would only hide writes.
export const unlimited = { RATE_LIMIT_RPS: '1000000', RATE_LIMIT_BURST: '2000000' }

export async function runKillTrials(options: {
  store: string
  databaseUrl: string
  trials: number
  seed: number
  rng: Random
}) {
  const { store, trials, seed, rng } = options
  const env = { DATABASE_URL: options.databaseUrl, ...unlimited }
  const ledger = new Ledger()
  const pending: PendingCreate[] = []
  const unexpected: string[] = []
  let server = await startServerProcess(env)
  const key = server.adminKey!
  let acknowledged = 0
  let lost = 0

  for (let trial = 1; trial <= trials; trial++) {
    const target = { baseUrl: server.baseUrl, key }
    unexpected.push(...(await replayPendingCreates(target, ledger, pending)))
    let killed = false
    const load = startLoad(
      {
        target,
        rng,
        ledger,
        prefix: `t${trial}`,
        connectionLossExpected: () => killed,
        unavailableExpected: () => false,
      },
      pending,
    )
    // The random moment of the crash (not a wait for something to happen).
    await sleep(rng.int(300, 2500))
    killed = true
    const exit = await server.kill('SIGKILL')
    const report = await load.stop()
    expect(exit.signal).toBe('SIGKILL')
    unexpected.push(...report.unexpected.map((line) => `trial ${trial}: ${line}`))
    acknowledged += report.acknowledged
    lost += report.connectionErrors

    server = await startServerProcess(env)
    const violations = await storeViolations({ baseUrl: server.baseUrl, key }, ledger)
    expect({ seed, trial, violations }).toEqual({ seed, trial, violations: [] })
  }

  const target = { baseUrl: server.baseUrl, key }
  unexpected.push(...(await replayPendingCreates(target, ledger, pending)))
  console.log(
    `${store} kill trials: ${trials} kills, ${acknowledged} writes acknowledged, ${lost} requests lost to the kills, ` +
      `${ledger.size} statuses in the ledger, ${ledger.entries().filter(([, e]) => e.deleted).length} of them deleted (seed ${seed})`,
  )
  expect({ seed, unexpected }).toEqual({ seed, unexpected: [] })
  expect({ seed, violations: await storeViolations(target, ledger) }).toEqual({ seed, violations: [] })
  // A run that acknowledged nothing checked nothing.
  expect(ledger.size).toBeGreaterThan(trials)
}
