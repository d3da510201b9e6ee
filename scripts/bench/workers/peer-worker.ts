// The peer a team would pick for job progress, run as a worker of scripts/bench.ts (its own process and
// core): BullMQ on a local redis-server. `jobs` jobs are added, then `concurrency` loops call
// `job.updateProgress` on distinct jobs for `durationSec`, while a QueueEvents listener (its own
// connection, in this process) counts the `progress` events it receives.
import { Queue, QueueEvents, type Job } from 'bullmq'
import { serve } from '../lib/ipc'

export interface PeerRequest {
  port: number
  jobs: number
  concurrency: number
  durationSec: number
}

export interface PeerResult {
  calls: number
  seconds: number
  callsPerSec: number
  /** `progress` events the listener received by the end of the run, and within 5 s after it. */
  delivered: number
  deliveredPerSec: number
  /** This process's CPU during the calls, % of one core. */
  cpuPercent: number
}

async function run({ port, jobs, concurrency, durationSec }: PeerRequest): Promise<PeerResult> {
  const connection = { host: '127.0.0.1', port }
  const name = `bench-${Date.now()}`
  const queue = new Queue(name, { connection })
  const events = new QueueEvents(name, { connection, autorun: true })
  try {
    await queue.waitUntilReady()
    await events.waitUntilReady()
    const added: Job[] = []
    for (let i = 0; i < jobs; i += 1000) {
      const chunk = Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({
        name: 'transcode',
        data: { n: i + k },
      }))
      added.push(...(await queue.addBulk(chunk)))
    }
    let delivered = 0
    events.on('progress', () => {
      delivered += 1
    })

    let calls = 0
    const cpu = process.cpuUsage()
    const started = performance.now()
    const until = started + durationSec * 1000
    await Promise.all(
      Array.from({ length: concurrency }, async (_, loop) => {
        // Each loop walks its own share of the jobs, so no two calls name the same job at once.
        for (let i = loop, pass = 1; performance.now() < until; i += concurrency) {
          if (i >= added.length) {
            i = loop
            pass += 1
          }
          await added[i]!.updateProgress(pass % 100)
          calls += 1
        }
      }),
    )
    const ms = performance.now() - started
    const used = process.cpuUsage(cpu)
    const settle = performance.now() + 5000
    while (delivered < calls && performance.now() < settle) await new Promise((r) => setTimeout(r, 50))
    return {
      calls,
      seconds: ms / 1000,
      callsPerSec: calls / (ms / 1000),
      delivered,
      deliveredPerSec: delivered / (ms / 1000),
      cpuPercent: ((used.user + used.system) / 1000 / ms) * 100,
    }
  } finally {
    await events.close()
    await queue.obliterate({ force: true }).catch(() => undefined)
    await queue.close()
  }
}

serve({ run: (message) => run(message as unknown as PeerRequest) })
