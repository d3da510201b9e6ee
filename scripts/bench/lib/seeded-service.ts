import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { BenchContext } from './context'
import { freePort, HOST, logTail, startServer, type ChildServer } from './processes'

/**
 * The built service on a database of a section's own (seeded before it starts), as the main one runs:
 * production mode, a rate limit too high to refuse, and the admin key it prints on first start.
 */
export async function startSeededService(
  ctx: BenchContext,
  name: string,
  databaseUrl: string,
): Promise<{ server: ChildServer; apiKey: string }> {
  const port = await freePort()
  const server = await startServer({
    name,
    nodeArgs: [path.join(ctx.rootDir, 'dist', 'src', 'server.js')],
    cwd: ctx.rootDir,
    port,
    logFile: path.join(ctx.tmpDir, `${name}.log`),
    readyPath: '/health',
    // Migrations and the first reads of a million rows take a while.
    readyTimeoutMs: 120_000,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST,
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: ctx.options.logLevel,
      RATE_LIMIT_RPS: '1000000',
      RATE_LIMIT_BURST: '2000000',
    },
  })
  const apiKey = readFileSync(server.logFile, 'utf8').match(/\b(st_[A-Za-z0-9_-]+)/)?.[1]
  if (!apiKey) {
    await server.stop()
    throw new Error(`the ${name} printed no admin key:\n${logTail(server.logFile)}`)
  }
  return { server, apiKey }
}
