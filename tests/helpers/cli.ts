import { PassThrough } from 'node:stream'
import type { Io } from '../../src/cli/args'
import { clientOf } from './api-client'
import { startServerProcess } from './server-process'

/** Streams for the command line's main() that keep what it writes, and the environment it reads. */
export function captureIo(env: NodeJS.ProcessEnv = {}): Io & { out(): string; err(): string } {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  return {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
    env,
    out: () => out,
    err: () => err,
  }
}

/**
 * A server process on a database of its own (from useTempDatabases()), a client of it with its admin
 * key, and the environment that points the `status-tracker` command at it.
 */
export async function serveForCli(database: { url: string }) {
  const server = await startServerProcess({ DATABASE_URL: database.url })
  const key = server.adminKey!
  return {
    server,
    key,
    api: clientOf(server, key),
    env: { STATUS_TRACKER_URL: server.baseUrl, STATUS_TRACKER_TOKEN: key },
  }
}
