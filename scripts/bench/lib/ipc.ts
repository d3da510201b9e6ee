// Request/answer over a child process's IPC channel: the bench process asks, a worker answers.
import type { ChildProcess } from 'node:child_process'

interface Answer {
  id: number
  ok: boolean
  value?: unknown
  error?: string
}

let nextId = 0

/** Sends `{ type, ...body }` to the worker and resolves with its answer; rejects on error, exit or timeout. */
export function ask<T>(
  child: ChildProcess,
  type: string,
  body: Record<string, unknown> = {},
  timeoutMs = 60_000,
): Promise<T> {
  const id = ++nextId
  return new Promise<T>((resolve, reject) => {
    const cleanUp = () => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (raw: unknown) => {
      const answer = raw as Answer
      if (answer?.id !== id) return
      cleanUp()
      if (answer.ok) resolve(answer.value as T)
      else reject(new Error(`worker ${type}: ${answer.error}`))
    }
    const onExit = (code: number | null) => {
      cleanUp()
      reject(new Error(`worker exited (code ${code}) before answering ${type}`))
    }
    const timer = setTimeout(() => {
      cleanUp()
      reject(new Error(`worker did not answer ${type} within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.send({ id, type, ...body })
  })
}

type Handler = (message: Record<string, unknown>) => unknown

/** In the worker: answers each request with its handler's (awaited) result. Exits when the parent goes. */
export function serve(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('this script runs as a worker of scripts/bench.ts (no IPC channel)')
  process.on('message', (raw) => {
    const message = raw as { id: number; type: string } & Record<string, unknown>
    const handler = handlers[message.type]
    const reply = (answer: Omit<Answer, 'id'>) => process.send?.({ id: message.id, ...answer })
    if (!handler) return reply({ ok: false, error: `unknown request ${message.type}` })
    Promise.resolve()
      .then(() => handler(message))
      .then(
        (value) => reply({ ok: true, value }),
        (err: unknown) =>
          reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      )
  })
  // A plain exit (not death by signal) lets `node --cpu-prof` write its profile.
  process.once('disconnect', () => process.exit(0))
  process.once('SIGTERM', () => process.exit(0))
}
