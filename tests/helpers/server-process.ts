import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { watchServerOutput } from './log-scan'

export const projectRoot = path.resolve(__dirname, '../..')
const serverEntry = path.join(projectRoot, 'dist', 'src', 'server.js')
const tsxBin = path.join(projectRoot, 'node_modules', '.bin', 'tsx')
export const cliEntry = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js')

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A child process with its output collected as it comes. */
export interface Spawned {
  child: ChildProcess
  stdout(): string
  stderr(): string
  exited: Promise<Exit>
}

const running = new Set<Spawned>()

function track(child: ChildProcess): Spawned {
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const spawned: Spawned = {
    child,
    stdout: () => out,
    stderr: () => err,
    // 'close' rather than 'exit': by then all of the output has been read.
    exited: new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal }))),
  }
  running.add(spawned)
  void spawned.exited.then(() => running.delete(spawned))
  return spawned
}

/** SIGKILLs every process these helpers started that is still alive; call it in afterEach/afterAll. */
export async function killAllProcesses(): Promise<void> {
  const alive = [...running]
  for (const spawned of alive) spawned.child.kill('SIGKILL')
  await Promise.all(alive.map((spawned) => spawned.exited))
}

/** A fresh directory with a not-yet-existing SQLite file in it. */
export function tempDatabase(): { url: string; file: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-e2e-'))
  const file = path.join(dir, 'status.db')
  return { url: `file:${file}`, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The environment of a child: ours without the test runner's LOG_LEVEL, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const { LOG_LEVEL: _ignored, ...inherited } = process.env
  return { ...inherited, NODE_ENV: 'test', ...env }
}

function waitFor<T>(
  spawned: Spawned,
  find: () => T | undefined,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const check = () => {
      const found = find()
      if (found === undefined) return
      cleanup()
      resolve(found)
    }
    const onExit = () => {
      cleanup()
      reject(
        new Error(
          `process exited before ${what}\nstdout:\n${spawned.stdout()}\nstderr:\n${spawned.stderr()}`,
        ),
      )
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(
        new Error(
          `timed out waiting for ${what}\nstdout:\n${spawned.stdout()}\nstderr:\n${spawned.stderr()}`,
        ),
      )
    }, timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      spawned.child.stdout?.off('data', check)
      spawned.child.off('exit', onExit)
    }
    spawned.child.stdout?.on('data', check)
    spawned.child.once('exit', onExit)
    check()
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) onExit()
  })
}

interface LogLine {
  msg?: string
  port?: number
  [field: string]: unknown
}

/** The JSON log lines a process has written so far (other stdout lines are skipped). */
export function logLines(stdout: string): LogLine[] {
  // The text after the last newline may be a line still being written.
  return stdout
    .split('\n')
    .slice(0, -1)
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)
}

export interface ServerProcess extends Spawned {
  port: number
  baseUrl: string
  /** The admin key printed on first start, when this start printed one. */
  adminKey: string | undefined
  /** Sends `signal` and waits for the process to exit (see exitedWithin). */
  kill(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>
}

/** Spawns `node dist/src/server.js` on a free loopback port, without waiting for anything. */
export function spawnServerProcess(env: Record<string, string>): Spawned {
  const spawned = track(
    spawn(process.execPath, [serverEntry], {
      cwd: projectRoot,
      env: childEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  // Whatever the server writes is searched for secrets after the test file (tests/helpers/log-scan.ts).
  const name = `server pid ${spawned.child.pid} (${expect.getState().currentTestName ?? 'setup'})`
  watchServerOutput(() => name, spawned.stdout, spawned.stderr)
  return spawned
}

/**
 * Waits for the process to exit; after `timeoutMs` it SIGKILLs the process and rejects with what the
 * process printed, so a stuck shutdown fails with its own story.
 */
export async function exitedWithin(spawned: Spawned, timeoutMs = 30_000): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      spawned.child.kill('SIGKILL')
      reject(
        new Error(
          `process did not exit within ${timeoutMs} ms\nstdout:\n${spawned.stdout()}\nstderr:\n${spawned.stderr()}`,
        ),
      )
    }, timeoutMs)
  })
  try {
    return await Promise.race([spawned.exited, stuck])
  } finally {
    clearTimeout(timer)
  }
}

/** Starts `node dist/src/server.js` on a free loopback port and waits until it listens. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const spawned = spawnServerProcess(env)
  const port = await waitFor(
    spawned,
    () => logLines(spawned.stdout()).find((line) => line.msg?.startsWith('listening on'))?.port,
    'the "listening on" log line',
  )
  return {
    ...spawned,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    adminKey: adminKeyIn(spawned.stdout()),
    async kill(signal = 'SIGTERM', timeoutMs = 30_000) {
      spawned.child.kill(signal)
      return exitedWithin(spawned, timeoutMs)
    },
  }
}

/** The key the server prints, indented on a line of its own, when it bootstraps an empty database. */
export const adminKeyIn = (stdout: string): string | undefined => stdout.match(/^\s+(st_\S+)\s*$/m)?.[1]

/** Waits until the process has written a JSON log line whose `msg` is `msg`. */
export const waitForLog = (spawned: Spawned, msg: string) =>
  waitFor(spawned, () => logLines(spawned.stdout()).find((line) => line.msg === msg), `the "${msg}" log line`)

export interface Completed extends Exit {
  stdout: string
  stderr: string
}

/** Runs a command to completion (killed after `timeoutMs`). */
export async function runToCompletion(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Completed> {
  const spawned = track(
    spawn(command, args, { cwd: projectRoot, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }),
  )
  const timer = setTimeout(() => spawned.child.kill('SIGKILL'), timeoutMs)
  const exit = await spawned.exited
  clearTimeout(timer)
  return { ...exit, stdout: spawned.stdout(), stderr: spawned.stderr() }
}

/** `status-tracker ...args` (the built command), killed after each test like the servers. */
export const spawnCli = (args: string[], env: Record<string, string>): Spawned =>
  track(
    spawn(process.execPath, [cliEntry, ...args], {
      cwd: projectRoot,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )

/** `status-tracker ...args` to completion. */
export const runCli = (args: string[], env: Record<string, string>, timeoutMs = 30_000) =>
  runToCompletion(process.execPath, [cliEntry, ...args], env, timeoutMs)

/** `tsx scripts/keys.ts ...args` against the database at `databaseUrl`. */
export const runKeysCli = (databaseUrl: string, ...args: string[]) =>
  runToCompletion(tsxBin, [path.join('scripts', 'keys.ts'), ...args], { DATABASE_URL: databaseUrl })

/** Runs `node dist/src/server.js` expecting it to exit by itself (e.g. on bad configuration). */
export const runServerToExit = (env: Record<string, string>) =>
  runToCompletion(process.execPath, [serverEntry], { HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env })

export const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? ''

/**
 * For an e2e file: a fresh database per call, every spawned process killed after each test and the
 * databases removed after the file.
 */
export function useTempDatabases(): () => ReturnType<typeof tempDatabase> {
  const databases: ReturnType<typeof tempDatabase>[] = []
  afterEach(killAllProcesses)
  afterAll(() => databases.forEach((database) => database.cleanup()))
  return () => {
    const database = tempDatabase()
    databases.push(database)
    return database
  }
}

/** A POST whose headers are sent now and whose body is sent when `finish` is called. */
export function startSlowPost(port: number, key: string, path: string, body: unknown) {
  const payload = JSON.stringify(body)
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path,
    agent: false,
    headers: {
      Authorization: `Bearer ${key}`,
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(payload),
      // The server answers 100 Continue once it has parsed the headers: the request is then in flight.
      Expect: '100-continue',
    },
  })
  const inFlight = new Promise<void>((resolve, reject) =>
    request.once('continue', resolve).once('error', reject),
  )
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    request.once('error', reject)
  })
  request.flushHeaders()
  return { inFlight, response, finish: () => request.end(payload) }
}
