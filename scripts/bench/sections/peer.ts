// The peer in the same run: BullMQ on a local redis-server (Debian's package, installed by
// scripts/install-redis.sh when missing; the section says so and is skipped when it cannot be had)
// doing the same work as a producer reporting progress, `updateProgress` on distinct jobs with a
// QueueEvents listener counting deliveries, beside our single PUT, our /batch and our in-process writer.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { httpBatch, inProcess } from './batch'
import { ask } from '../lib/ipc'
import { freePort, HOST, processCpuMs } from '../lib/processes'
import { round, target, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'
import { measurePut } from '../scenarios'
import type { PeerRequest, PeerResult } from '../workers/peer-worker'

const JOBS = 10_000
const CONCURRENCY = 50

async function untilListening(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, HOST)
      socket.once('connect', () => resolve(socket.end() && true))
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function skipped(reason: string): SectionResult {
  return {
    name: 'peer',
    title: 'Peer: BullMQ updateProgress on a local Redis',
    summary: `skipped: ${reason}`,
    table: { columns: ['skipped'], rows: [[reason]] },
    notes: [],
    targets: [],
    otherCpuPercent: null,
    data: { skipped: reason },
  }
}

export async function runPeer(ctx: BenchContext): Promise<SectionResult> {
  const install = spawnSync('bash', [path.join(ctx.rootDir, 'scripts', 'install-redis.sh')], {
    encoding: 'utf8',
  })
  if (install.status !== 0) return skipped(`no redis-server (${install.stderr.trim().split('\n').at(-1)})`)
  const redisServer = process.env.REDIS_SERVER || '/usr/bin/redis-server'
  const version = spawnSync(redisServer, ['--version'], { encoding: 'utf8' }).stdout.trim()
  const dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-redis-'))
  const port = await freePort()
  // Append-only with a write per second: Redis's usual durable setting, close to SQLite's WAL with
  // synchronous=NORMAL (a crash keeps committed writes, a power loss may lose the last second).
  const redis = spawn(
    redisServer,
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
    ],
    { stdio: 'ignore' },
  )
  const worker = ctx.startWorker('peer', 'peer-worker.ts')
  try {
    await untilListening(port)
    const redisCpu = () => (redis.pid === undefined ? null : processCpuMs(redis.pid))
    const redisBefore = redisCpu()
    const request: PeerRequest = {
      port,
      jobs: JOBS,
      concurrency: CONCURRENCY,
      durationSec: ctx.options.durationSec,
    }
    const bull = await ask<PeerResult>(
      worker.child,
      'run',
      { ...request },
      (request.durationSec + 120) * 1000,
    )
    const redisAfter = redisCpu()
    const redisPercent =
      redisBefore === null || redisAfter === null
        ? null
        : ((redisAfter - redisBefore) / 1000 / bull.seconds) * 100
    const put = await measurePut(ctx)
    const batch = await httpBatch(ctx)
    const { updater } = await inProcess(ctx, 'inprocess-peer')

    const ratio = (v: number) => (bull.callsPerSec > 0 ? v / bull.callsPerSec : null)
    const x = (v: number | null) => (v === null ? '–' : `${round(v, 2)}×`)
    const rows: [string, number, string][] = [
      [
        `BullMQ job.updateProgress, ${CONCURRENCY} concurrent calls over ${thousands(JOBS)} jobs`,
        bull.callsPerSec,
        '1×',
      ],
      [
        `  its QueueEvents listener: progress events received`,
        bull.deliveredPerSec,
        x(ratio(bull.deliveredPerSec)),
      ],
      [
        `PUT /api/status/:id, ${ctx.settings.connections} connections`,
        put.requestsPerSec,
        x(ratio(put.requestsPerSec)),
      ],
      [`POST /api/status/batch (committed updates)`, batch.committedPerSec, x(ratio(batch.committedPerSec))],
      [`the writer in-process, distinct statuses`, updater.perSec, x(ratio(updater.perSec))],
    ]
    return {
      name: 'peer',
      title: 'Peer: BullMQ updateProgress on a local Redis, beside our writes',
      summary:
        `BullMQ ${thousands(bull.callsPerSec)} updateProgress/s; ours: PUT ${x(ratio(put.requestsPerSec))}, ` +
        `/batch ${x(ratio(batch.committedPerSec))}, in-process ${x(ratio(updater.perSec))}`,
      table: {
        columns: ['path', 'per second', '× BullMQ updateProgress'],
        rows: rows.map(([a, v, r]) => [a, thousands(v), r]),
      },
      notes: [
        `${version.split(' ').slice(0, 3).join(' ')} on loopback with appendonly yes, appendfsync everysec; BullMQ ` +
          `${bull.calls.toLocaleString('en-US')} calls in ${round(bull.seconds, 1)} s from one worker process ` +
          `(${Math.round(bull.cpuPercent)} % of a core, Redis ${redisPercent === null ? '–' : Math.round(redisPercent)} %); ` +
          `the listener had received ${thousands(bull.delivered)} progress events 5 s after the last call.`,
        'Each of ours writes a new version of the status and its event in the outbox, durable when answered; an ' +
          "updateProgress writes the job hash and one entry in the queue's event stream.",
      ],
      targets: [
        target('writer in-process ≥ 1.0× BullMQ updateProgress', ratio(updater.perSec), (v) => v >= 1),
      ],
      otherCpuPercent: null,
      data: { redis: version, bullmq: bull, put: { requestsPerSec: put.requestsPerSec }, batch, updater },
    }
  } finally {
    await worker.stop()
    redis.kill('SIGTERM')
    await new Promise((resolve) => (redis.exitCode !== null ? resolve(null) : redis.once('exit', resolve)))
    rmSync(dir, { recursive: true, force: true })
  }
}
