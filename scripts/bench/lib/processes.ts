import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export const HOST = '127.0.0.1'

export interface ChildServer {
  name: string
  url: string
  logFile: string
  child: ChildProcess
  /** CPU time (user + system) the process has used so far, in ms; null where /proc is unavailable. */
  cpuMs(): number | null
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>
}

const running = new Set<ChildServer>()

// Last resort when the bench process dies without reaching its cleanup (an uncaught error, process.exit).
process.once('exit', () => {
  for (const server of running) server.child.kill('SIGKILL')
})

/** A port that was free a moment ago; the service wants a number up front to work at any log level. */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, HOST, resolve))
  const address = probe.address()
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('could not find a free port')
  return address.port
}

export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no output)'
  }
}

// Linux reports CPU time in clock ticks, 100 per second on every mainstream kernel build.
const TICKS_PER_SECOND = 100

/** utime + stime of a process from /proc/<pid>/stat (fields 14 and 15, counted after the command name). */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
  } catch {
    return null
  }
}

/** Busy CPU time of the whole machine so far (all cores, ms), from /proc/stat; null where unavailable. */
export function machineBusyMs(): number | null {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/)
    const [user, nice, system, _idle, _iowait, irq, softirq, steal] = ticks.map(Number)
    return (
      (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) /
      TICKS_PER_SECOND
    )
  } catch {
    return null
  }
}

export interface StartOptions {
  name: string
  nodeArgs: string[]
  env: NodeJS.ProcessEnv
  port: number
  cwd: string
  /** stdout and stderr go here, not through a pipe, so the bench process spends no CPU on the service's logs. */
  logFile: string
  readyPath: string
  readyTimeoutMs?: number
}

function track(
  name: string,
  url: string,
  logFile: string,
  child: ChildProcess,
): ChildServer & { failed: boolean } {
  let exited = false
  const gone = new Promise<void>((resolve) => {
    const done = () => {
      exited = true
      resolve()
    }
    child.once('exit', done)
    child.once('error', () => {
      server.failed = true
      done()
    })
  })
  let stopping: Promise<void> | undefined
  const server = {
    name,
    url,
    logFile,
    child,
    failed: false,
    cpuMs: () => (child.pid === undefined ? null : processCpuMs(child.pid)),
    stop: (graceMs = 10_000) =>
      (stopping ??= (async () => {
        if (!exited) {
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
          await gone
          clearTimeout(timer)
        }
        running.delete(server)
      })()),
  }
  running.add(server)
  return server
}

/** Starts a node process and waits until `readyPath` answers 2xx. */
export async function startServer(options: StartOptions): Promise<ChildServer> {
  const out = openSync(options.logFile, 'a')
  const child = spawn(process.execPath, options.nodeArgs, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', out, out],
  })
  closeSync(out)

  const server = track(options.name, `http://${HOST}:${options.port}`, options.logFile, child)
  const exited = () => child.exitCode !== null || child.signalCode !== null || server.failed
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000)
  for (;;) {
    if (exited()) {
      throw new Error(
        `${options.name} exited during start-up (code ${child.exitCode}):\n${logTail(options.logFile)}`,
      )
    }
    try {
      const res = await fetch(`${server.url}${options.readyPath}`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.ok) return server
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop(1000)
      throw new Error(
        `${options.name} did not answer ${options.readyPath} in time:\n${logTail(options.logFile)}`,
      )
    }
    await sleep(100)
  }
}

export interface WorkerOptions {
  name: string
  /** A TypeScript file under scripts/bench/, run through tsx. */
  script: string
  args?: string[]
  nodeArgs?: string[]
  env?: NodeJS.ProcessEnv
  cwd: string
  logFile: string
}

/**
 * Starts a helper process with an IPC channel (Socket.IO clients, the in-process updater run). It is
 * stopped with the servers, so an error in a scenario never leaves it behind.
 */
export function startWorker(options: WorkerOptions): ChildServer {
  const out = openSync(options.logFile, 'a')
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', options.script, ...(options.args ?? [])],
    { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, out, 'ipc'] },
  )
  closeSync(out)
  return track(options.name, '', options.logFile, child)
}

/** Stops every child still running, in parallel. */
export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...running].map((server) => server.stop(graceMs)))
}
