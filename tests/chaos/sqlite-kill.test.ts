// The built server on one SQLite file, SIGKILLed at a random moment under concurrent writes and restarted
// on the same file, over and over: no acknowledged write may be lost and the event feed must stay whole.
import { chaosSeed, chaosTrials, seededRandom } from '../helpers/chaos-load'
import { useTempDatabases } from '../helpers/server-process'
import { runKillTrials } from './kill-trials'

const trials = chaosTrials(4)
jest.setTimeout(60_000 + trials * 20_000)

const seed = chaosSeed()
const newDatabase = useTempDatabases()

test(`when the server is SIGKILLed under load and restarted on the same file (${trials} times), then every acknowledged write is there and the feed has no hole`, async () => {
  console.log(`SQLite chaos: seed ${seed} (CHAOS_SEED=${seed} replays its choices), ${trials} trials`)
  await runKillTrials({
    store: 'SQLite',
    databaseUrl: newDatabase().url,
    trials,
    seed,
    rng: seededRandom(seed),
  })
})
