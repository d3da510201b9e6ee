// Soak: the built server on a fresh SQLite file under a steady mixed load for a long while (10 minutes by
// default), watching for errors and for memory that grows. Writes bench/results/soak.md and .json.
//
//   npm run soak -- [--duration 600] [--warmup 60] [--report-every 30] [--rate 200] [--out soak] [--no-build]
//
// The load: creates, progress updates and transitions, recorded errors (retried, and the last one
// failing its status), batches through the updater, single reads, listings with their next page,
// history, and requests that must be refused (400, 404, 409), as a share of --rate operations a second;
// meanwhile a few Socket.IO subscribers and Server-Sent Events streams follow the tenant's feed.
// An error is a 5xx, a connection error (or a subscriber or stream dropped), or a 4xx that was not
// asked for. Passes with no error and RSS growth after the warm-up under 50 MB.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { io, type Socket } from 'socket.io-client'
import { freePort, HOST, logTail, processCpuMs, startServer, stopAll } from './bench/lib/processes'

const rootDir = path.resolve(__dirname, '..')
const resultsDir = path.join(rootDir, 'bench', 'results')
const serverEntry = path.join(rootDir, 'dist', 'src', 'server.js')
const MAX_GROWTH_MB = 50
const MAX_IN_FLIGHT = 64
const SUBSCRIBERS = 4
const SSE_STREAMS = 2

const usage = `Usage: npm run soak -- [options]

  --duration S       seconds of load (default 600)
  --warmup S         seconds after which RSS growth is counted (default 60)
  --report-every S   seconds between progress lines (default 30)
  --rate R           operations per second, mixed (default 200)
  --out NAME         write bench/results/NAME.json and NAME.md (default soak)
  --no-build         skip npm run build (dist/ must be current)

Passes with no error (5xx, connection error, unexpected 4xx, dropped subscriber) and RSS growth after
the warm-up below ${MAX_GROWTH_MB} MB; exits 1 otherwise.`

interface Options {
  durationSec: number
  warmupSec: number
  reportEverySec: number
  rate: number
  out: string
  build: boolean
}

function options(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '600' },
      warmup: { type: 'string', default: '60' },
      'report-every': { type: 'string', default: '30' },
      rate: { type: 'string', default: '200' },
      out: { type: 'string', default: 'soak' },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) return null
  const positive = (flag: string, raw: string) => {
    const n = Number(raw)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number, got "${raw}"`)
    return n
  }
  const parsed = {
    durationSec: positive('duration', values.duration),
    warmupSec: positive('warmup', values.warmup),
    reportEverySec: positive('report-every', values['report-every']),
    rate: positive('rate', values.rate),
    out: values.out,
    build: !values['no-build'],
  }
  if (parsed.warmupSec >= parsed.durationSec) throw new Error('--warmup must be shorter than --duration')
  return parsed
}

/** Resident set size of a process, MB, from /proc; null where unavailable. */
function rssMb(pid: number): number | null {
  try {
    const kb = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1]
    return kb === undefined ? null : Number(kb) / 1024
  } catch {
    return null
  }
}

type State = 'pending' | 'processing' | 'retry_pending' | 'completed' | 'failed' | 'cancelled'
const TERMINAL: State[] = ['completed', 'failed', 'cancelled']

interface Counts {
  requests: number
  ok: number
  /** 4xx the load asked for (a bad body, a missing id, an illegal move), answered as expected. */
  expected4xx: number
  serverErrors: number
  connectionErrors: number
  unexpected4xx: number
  /** Operations not sent because MAX_IN_FLIGHT were still waiting: the server fell behind. */
  skipped: number
  socketEvents: number
  sseEvents: number
  dropped: number
  /** Firehose subscribers and SSE streams that did not receive every event of the feed. */
  missedEvents: number
}

interface Sample {
  elapsedSec: number
  requests: number
  requestsPerSec: number
  errors: number
  rssMb: number | null
  serverCpuPercent: number | null
  socketEvents: number
  sseEvents: number
}

const errorsOf = (c: Counts) =>
  c.serverErrors + c.connectionErrors + c.unexpected4xx + c.dropped + c.missedEvents

async function main(): Promise<number> {
  let opts: Options | null
  try {
    opts = options(process.argv.slice(2))
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`)
    return 2
  }
  if (!opts) {
    console.log(usage)
    return 0
  }
  if (opts.build) {
    console.log('> npm run build')
    const result = spawnSync('npm', ['run', 'build'], { cwd: rootDir, stdio: 'inherit' })
    if (result.status !== 0) throw new Error('npm run build failed')
  }

  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'status-tracker-soak-'))
  const counts: Counts = {
    requests: 0,
    ok: 0,
    expected4xx: 0,
    serverErrors: 0,
    connectionErrors: 0,
    unexpected4xx: 0,
    skipped: 0,
    socketEvents: 0,
    sseEvents: 0,
    dropped: 0,
    missedEvents: 0,
  }
  const firstErrors: string[] = []
  const noteError = (what: string) => {
    if (firstErrors.length < 20) firstErrors.push(what)
  }
  const sockets: Socket[] = []
  const streams: AbortController[] = []
  let stopping = false
  const startedAt = new Date()
  try {
    const port = await freePort()
    const server = await startServer({
      name: 'service',
      nodeArgs: [serverEntry],
      cwd: rootDir,
      port,
      logFile: path.join(tmpDir, 'service.log'),
      readyPath: '/health',
      env: {
        ...process.env,
        NODE_ENV: 'production',
        HOST,
        PORT: String(port),
        DATABASE_URL: `file:${path.join(tmpDir, 'soak.db')}`,
        LOG_LEVEL: 'warn',
      },
    })
    const pid = server.child.pid!
    const apiKey = readFileSync(server.logFile, 'utf8').match(/\b(st_[A-Za-z0-9_-]+)/)?.[1]
    if (!apiKey) throw new Error(`the service printed no admin key:\n${logTail(server.logFile)}`)
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }
    console.log(`service ${server.url} (pid ${pid}), ${opts.rate} operations/s for ${opts.durationSec} s`)

    // --- subscribers: Socket.IO (firehose and a filter) and SSE streams, following the feed throughout
    // Events received by each firehose subscriber and each stream, to compare with the feed at the end.
    const firehose: { name: string; received: number }[] = []
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const counter = { name: `Socket.IO subscriber ${i}`, received: 0 }
      if (i % 2 === 0) firehose.push(counter)
      const socket = io(`${server.url}/status`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth: { token: apiKey },
      })
      sockets.push(socket)
      socket.on('status.event', () => {
        counts.socketEvents += 1
        counter.received += 1
      })
      socket.on('disconnect', (reason) => {
        if (stopping) return
        counts.dropped += 1
        noteError(`Socket.IO subscriber ${i} disconnected: ${reason}`)
      })
      const filter = i % 2 === 0 ? {} : { filter: { status: ['processing', 'retry_pending'] } }
      const ack = (await socket.timeout(10_000).emitWithAck('subscribe', filter)) as { ok?: boolean }
      if (!ack?.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`)
    }
    for (let i = 0; i < SSE_STREAMS; i++) {
      const counter = { name: `SSE stream ${i}`, received: 0 }
      firehose.push(counter)
      const abort = new AbortController()
      streams.push(abort)
      void (async () => {
        try {
          const res = await fetch(`${server.url}/api/events/stream?since_seq=0`, {
            headers,
            signal: abort.signal,
          })
          if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}`)
          const decoder = new TextDecoder()
          let tail = ''
          for await (const chunk of res.body) {
            const text = tail + decoder.decode(chunk as Uint8Array, { stream: true })
            const lines = text.split('\n')
            tail = lines.pop() ?? ''
            for (const line of lines) {
              if (line !== 'event: status.event') continue
              counts.sseEvents += 1
              counter.received += 1
            }
          }
          if (!stopping) throw new Error('the stream ended')
        } catch (err) {
          if (stopping) return
          counts.dropped += 1
          noteError(`SSE stream ${i}: ${err instanceof Error ? err.message : String(err)}`)
        }
      })()
    }

    // --- the load
    const states = new Map<string, State>()
    const busy = new Set<string>()
    const live: string[] = []
    const done: string[] = []
    let created = 0
    let terminal = 0
    let missing = 0
    let inFlight = 0

    const call = async (
      method: string,
      pathname: string,
      body: unknown,
      expect: number[],
    ): Promise<{ status: number; json: Record<string, unknown> } | null> => {
      counts.requests += 1
      try {
        const res = await fetch(`${server.url}${pathname}`, {
          method,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        const text = await res.text()
        if (expect.includes(res.status)) {
          if (res.status >= 400) counts.expected4xx += 1
          else counts.ok += 1
          return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
        }
        if (res.status >= 500) counts.serverErrors += 1
        else counts.unexpected4xx += 1
        noteError(`${method} ${pathname} → ${res.status} ${text.slice(0, 300)}`)
        return null
      } catch (err) {
        counts.connectionErrors += 1
        noteError(`${method} ${pathname}: ${err instanceof Error ? err.message : String(err)}`)
        return null
      }
    }

    const pickLive = (): string | undefined => {
      for (let tries = 0; tries < 5 && live.length > 0; tries++) {
        const id = live[Math.floor(Math.random() * live.length)]!
        if (!busy.has(id)) return id
      }
      return undefined
    }
    const settle = (id: string, state: unknown) => {
      if (typeof state !== 'string') return
      states.set(id, state as State)
      if (TERMINAL.includes(state as State)) {
        terminal += 1
        const at = live.indexOf(id)
        if (at >= 0) live.splice(at, 1)
        done.push(id)
        if (done.length > 1000) done.shift()
      }
    }
    /** Runs `op` on `id` alone: no other operation touches the status until it is answered. */
    const withStatus = async (id: string, op: () => Promise<void>) => {
      busy.add(id)
      try {
        await op()
      } finally {
        busy.delete(id)
      }
    }

    const create = async () => {
      const id = `soak-${++created}`
      const res = await call(
        'POST',
        '/api/status',
        {
          status_id: id,
          kind: created % 3 === 0 ? 'video.transcode' : 'report.build',
          resource_id: `resource:${created % 500}`,
          tags: [`batch-${created % 20}`, 'soak'],
          metadata: { attempt: created, note: 'x'.repeat(created % 200) },
          max_retries: 2,
        },
        [201],
      )
      if (res) {
        states.set(id, 'pending')
        live.push(id)
      }
    }
    const update = async () => {
      const id = pickLive()
      if (!id) return create()
      await withStatus(id, async () => {
        const state = states.get(id)
        const body =
          state === 'pending' || state === 'retry_pending'
            ? { new_status: 'processing', message: 'started' }
            : Math.random() < 0.1
              ? { new_status: 'completed', message: 'done' }
              : { progress_percentage: Math.floor(Math.random() * 100), message: 'working' }
        const res = await call('PUT', `/api/status/${id}`, body, [200])
        if (res) settle(id, res.json.status)
      })
    }
    const recordError = async () => {
      const id = pickLive()
      // Only a started status can go to retry_pending (pending → retry_pending is no transition).
      if (!id || states.get(id) !== 'processing') return update()
      await withStatus(id, async () => {
        const res = await call(
          'POST',
          `/api/status/${id}/errors`,
          { error_info: { message: 'encoder crashed', code: 'ENCODER_EXIT' }, should_retry: true },
          [200],
        )
        if (res) settle(id, res.json.status)
      })
    }
    const batch = async () => {
      const ids: string[] = []
      for (let i = 0; i < 20; i++) {
        const id = pickLive()
        if (id && !ids.includes(id) && states.get(id) === 'processing') ids.push(id)
      }
      if (ids.length === 0) return
      for (const id of ids) busy.add(id)
      try {
        const updates = ids.map((status_id) => ({
          status_id,
          progress_percentage: Math.floor(Math.random() * 100),
        }))
        const res = await call('POST', '/api/status/batch?wait=true', { updates }, [200])
        // Each update is to a processing status nothing else touches meanwhile: every one must apply.
        const results = (res?.json.results as { result: string }[] | undefined) ?? []
        const rejected = (res?.json.rejected as unknown[] | undefined) ?? []
        const failed = results.filter((r) => r.result === 'error')
        if (res && (rejected.length > 0 || failed.length > 0)) {
          counts.unexpected4xx += 1
          noteError(`batch: ${JSON.stringify({ rejected, failed }).slice(0, 300)}`)
        }
      } finally {
        for (const id of ids) busy.delete(id)
      }
    }
    const read = async () => {
      const id = live[Math.floor(Math.random() * live.length)] ?? done[0]
      if (id) await call('GET', `/api/status/${id}`, undefined, [200])
    }
    const list = async () => {
      const res = await call(
        'GET',
        '/api/status?status=processing,retry_pending&sort=-updated_at&limit=50',
        undefined,
        [200],
      )
      const cursor = res?.json.next_cursor
      if (typeof cursor === 'string')
        await call(
          'GET',
          `/api/status?status=processing,retry_pending&sort=-updated_at&limit=50&cursor=${encodeURIComponent(cursor)}`,
          undefined,
          [200],
        )
    }
    const history = async () => {
      const id = done[Math.floor(Math.random() * done.length)] ?? live[0]
      if (id) await call('GET', `/api/status/${id}/history?limit=20`, undefined, [200])
    }
    const refused = async () => {
      const kind = Math.random()
      if (kind < 0.4) {
        const id = pickLive()
        if (id) await call('PUT', `/api/status/${id}`, { progress_percentage: 150 }, [400])
      } else if (kind < 0.7) {
        await call('GET', `/api/status/soak-missing-${++missing}`, undefined, [404])
      } else {
        const id = done[Math.floor(Math.random() * done.length)]
        if (id) await call('PUT', `/api/status/${id}`, { new_status: 'processing' }, [409])
      }
    }
    const stats = () => call('GET', '/api/stats', undefined, [200]).then(() => undefined)

    // Shares of the operations, in order; the rest is creates.
    const mix: [number, () => Promise<void>][] = [
      [0.3, update],
      [0.05, recordError],
      [0.04, batch],
      [0.2, read],
      [0.12, list],
      [0.05, history],
      [0.06, refused],
      [0.02, stats],
    ]
    const pick = () => {
      let r = Math.random()
      for (const [share, op] of mix) {
        if (r < share) return op
        r -= share
      }
      return create
    }

    const samples: Sample[] = []
    const began = performance.now()
    let lastSample = { at: began, requests: 0, cpuMs: processCpuMs(pid) }
    let nextReport = opts.reportEverySec
    const sample = () => {
      const now = performance.now()
      const cpuMs = processCpuMs(pid)
      const s: Sample = {
        elapsedSec: (now - began) / 1000,
        requests: counts.requests,
        requestsPerSec: ((counts.requests - lastSample.requests) * 1000) / (now - lastSample.at),
        errors: errorsOf(counts),
        rssMb: rssMb(pid),
        serverCpuPercent:
          cpuMs === null || lastSample.cpuMs === null
            ? null
            : ((cpuMs - lastSample.cpuMs) / (now - lastSample.at)) * 100,
        socketEvents: counts.socketEvents,
        sseEvents: counts.sseEvents,
      }
      lastSample = { at: now, requests: counts.requests, cpuMs }
      samples.push(s)
      if (s.elapsedSec + 0.5 >= nextReport) {
        nextReport += opts!.reportEverySec
        console.log(
          `${Math.round(s.elapsedSec)} s: ${counts.requests} requests (${Math.round(s.requestsPerSec)}/s), ` +
            `${s.errors} errors, RSS ${s.rssMb?.toFixed(1) ?? '–'} MB, server CPU ${Math.round(s.serverCpuPercent ?? 0)} %, ` +
            `events: ${counts.socketEvents} Socket.IO, ${counts.sseEvents} SSE`,
        )
      }
    }
    const sampler = setInterval(sample, 1000)

    const interval = 1000 / opts.rate
    const pending = new Set<Promise<void>>()
    const total = Math.floor(opts.rate * opts.durationSec)
    try {
      for (let i = 0; i < total; i++) {
        const wait = began + i * interval - performance.now()
        if (wait >= 1) await sleep(wait)
        if (inFlight >= MAX_IN_FLIGHT) {
          counts.skipped += 1
          continue
        }
        inFlight += 1
        const p = pick()().finally(() => {
          inFlight -= 1
          pending.delete(p)
        })
        pending.add(p)
      }
      await Promise.all(pending)
      // The subscribers catch up with the last writes, then a final sample.
      await sleep(2000)
    } finally {
      clearInterval(sampler)
    }
    sample()

    // Every event of the feed reached every firehose subscriber and stream.
    let feedEvents = 0
    for (let after = 0; ;) {
      const page = await call('GET', `/api/events?after_seq=${after}&limit=1000`, undefined, [200])
      if (!page) break
      feedEvents += (page.json.items as unknown[]).length
      after = page.json.next_after_seq as number
      if (!page.json.has_more) break
    }
    for (const { name, received } of firehose) {
      if (received === feedEvents) continue
      counts.missedEvents += 1
      noteError(`${name} received ${received} of the feed's ${feedEvents} events`)
    }

    stopping = true
    for (const socket of sockets) socket.disconnect()
    for (const abort of streams) abort.abort()
    const stopStarted = performance.now()
    await server.stop(15_000)
    const stopMs = performance.now() - stopStarted
    const exitCode = server.child.exitCode
    if (exitCode !== 0) {
      counts.serverErrors += 1
      noteError(`the server exited with ${exitCode ?? server.child.signalCode} on SIGTERM`)
    }

    // RSS growth: the mean of the last 10 s against the mean of the 10 s before the warm-up ended.
    const rssIn = (from: number, to: number) => {
      const values = samples
        .filter((s) => s.elapsedSec >= from && s.elapsedSec < to && s.rssMb !== null)
        .map((s) => s.rssMb!)
      return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length
    }
    const end = samples.at(-1)?.elapsedSec ?? opts.durationSec
    const baseline = rssIn(opts.warmupSec - 10, opts.warmupSec)
    const final = rssIn(end - 10, end + 1)
    const growth = baseline === null || final === null ? null : final - baseline
    const maxRss = Math.max(...samples.map((s) => s.rssMb ?? 0))
    const errors = errorsOf(counts)
    const passed = errors === 0 && growth !== null && growth < MAX_GROWTH_MB
    const result = {
      date: startedAt.toISOString(),
      node: process.version,
      cpu: { model: os.cpus()[0]?.model.trim() ?? 'unknown', cores: os.cpus().length },
      settings: { ...opts, subscribers: SUBSCRIBERS, sseStreams: SSE_STREAMS, maxInFlight: MAX_IN_FLIGHT },
      counts,
      statuses: { created, terminal },
      feedEvents,
      rssMb: { baseline, final, growth, max: maxRss },
      stopMs,
      passed,
      firstErrors,
      samples,
    }
    writeReport(opts.out, result)
    console.log(
      `\n${passed ? 'PASS' : 'FAIL'}: ${counts.requests} requests, ${errors} errors, RSS growth after the warm-up ` +
        `${growth?.toFixed(1) ?? '–'} MB (limit ${MAX_GROWTH_MB}). Wrote bench/results/${opts.out}.json and .md`,
    )
    if (firstErrors.length > 0) console.log(`First errors:\n  ${firstErrors.join('\n  ')}`)
    return passed ? 0 : 1
  } finally {
    stopping = true
    for (const socket of sockets) socket.disconnect()
    for (const abort of streams) abort.abort()
    await stopAll()
    rmSync(tmpDir, { recursive: true, force: true })
  }
}

interface SoakResult {
  date: string
  node: string
  cpu: { model: string; cores: number }
  settings: Options & { subscribers: number; sseStreams: number; maxInFlight: number }
  counts: Counts
  statuses: { created: number; terminal: number }
  feedEvents: number
  rssMb: { baseline: number | null; final: number | null; growth: number | null; max: number }
  stopMs: number
  passed: boolean
  firstErrors: string[]
  samples: Sample[]
}

function writeReport(out: string, r: SoakResult): void {
  const mb = (v: number | null) => (v === null ? '–' : v.toFixed(1))
  const n = (v: number) => Math.round(v).toLocaleString('en-US')
  const every = r.settings.reportEverySec
  const lines = r.samples.filter(
    (s, i) => i === r.samples.length - 1 || Math.round(s.elapsedSec) % every === 0,
  )
  const markdown = [
    `# Soak: ${r.passed ? 'PASS' : 'FAIL'}`,
    '',
    `${r.date}, Node ${r.node}, ${r.cpu.model} (${r.cpu.cores} cores). The built server on a fresh SQLite ` +
      `file, ${r.settings.rate} mixed operations/s for ${r.settings.durationSec} s (at most ` +
      `${r.settings.maxInFlight} in flight), ${r.settings.subscribers} Socket.IO subscribers ` +
      `(firehose and a filter) and ${r.settings.sseStreams} SSE streams following the feed. ` +
      '`npm run soak` (scripts/soak.ts).',
    '',
    '| | |',
    '|---|---:|',
    `| requests | ${n(r.counts.requests)} |`,
    `| answered as asked (2xx) | ${n(r.counts.ok)} |`,
    `| refusals asked for (400, 404, 409) | ${n(r.counts.expected4xx)} |`,
    `| 5xx | ${n(r.counts.serverErrors)} |`,
    `| connection errors | ${n(r.counts.connectionErrors)} |`,
    `| unexpected 4xx | ${n(r.counts.unexpected4xx)} |`,
    `| subscribers or streams dropped | ${n(r.counts.dropped)} |`,
    `| operations skipped (${r.settings.maxInFlight} in flight) | ${n(r.counts.skipped)} |`,
    `| events in the feed | ${n(r.feedEvents)} |`,
    `| events received: Socket.IO (${r.settings.subscribers}) / SSE (${r.settings.sseStreams}) | ${n(r.counts.socketEvents)} / ${n(r.counts.sseEvents)} |`,
    `| firehose subscribers or streams that missed an event | ${n(r.counts.missedEvents)} |`,
    `| statuses created / made terminal | ${n(r.statuses.created)} / ${n(r.statuses.terminal)} |`,
    `| RSS after the ${r.settings.warmupSec} s warm-up / at the end / max | ${mb(r.rssMb.baseline)} / ${mb(r.rssMb.final)} / ${mb(r.rssMb.max)} MB |`,
    `| RSS growth after the warm-up (limit ${MAX_GROWTH_MB} MB) | ${mb(r.rssMb.growth)} MB |`,
    `| graceful stop (SIGTERM) | ${n(r.stopMs)} ms |`,
    '',
    "RSS is the server process's resident set (/proc), each figure the mean over 10 s: the 10 s before " +
      'the warm-up ended, and the last 10 s.',
    '',
    '| elapsed s | requests | req/s | errors | RSS MB | server CPU % | Socket.IO events | SSE events |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...lines.map(
      (s) =>
        `| ${Math.round(s.elapsedSec)} | ${n(s.requests)} | ${n(s.requestsPerSec)} | ${s.errors} | ${mb(s.rssMb)} | ` +
        `${s.serverCpuPercent === null ? '–' : Math.round(s.serverCpuPercent)} | ${n(s.socketEvents)} | ${n(s.sseEvents)} |`,
    ),
    ...(r.firstErrors.length > 0 ? ['', 'First errors:', '', ...r.firstErrors.map((e) => `- \`${e}\``)] : []),
    '',
  ].join('\n')
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(path.join(resultsDir, `${out}.json`), `${JSON.stringify(r, null, 2)}\n`)
  writeFileSync(path.join(resultsDir, `${out}.md`), markdown)
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`Soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    process.exit(1)
  },
)
