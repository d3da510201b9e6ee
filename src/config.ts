import { z } from 'zod'
import type { CorsOrigins } from './http/cors'

const intFrom = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback)

/** `CORS_ORIGINS`: `*`, `none`, or comma-separated origins such as `https://app.example.com`. */
const corsOrigins = z
  .string()
  .default('*')
  .transform((value, ctx): CorsOrigins => {
    const text = value.trim()
    if (text === '*') return '*'
    if (text.toLowerCase() === 'none') return []
    const origins = text.split(',').map((part) => part.trim())
    for (const origin of origins) {
      if (!isOrigin(origin)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${origin}" is not an origin; use *, none, or origins such as https://app.example.com`,
        })
        return z.NEVER
      }
    }
    return origins
  })

/** scheme://host[:port], exactly as a browser sends it in `Origin` (no path, no trailing slash). */
function isOrigin(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text
  } catch {
    return false
  }
}

const EnvShape = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .default('file:./data/status.db')
    .refine(
      (url) => url.startsWith('file:') || /^postgres(ql)?:\/\/[^/]/.test(url),
      'must be a file: URL (SQLite) or a postgresql:// URL',
    ),
  SQLITE_SYNCHRONOUS: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
  CORS_ORIGINS: corsOrigins,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  RATE_LIMIT_RPS: intFrom(1000, 1),
  RATE_LIMIT_BURST: intFrom(2000, 1),
  UPDATER_BATCH_SIZE: intFrom(500, 1),
  UPDATER_FLUSH_MS: intFrom(5, 1),
  UPDATER_MAX_QUEUE: intFrom(100_000, 1),
  EVENT_POLL_MS: intFrom(100, 10),
  RELAY_LEASE_MS: intFrom(30_000, 100),
  // SPEC §11: how often the sweeper looks for due statuses (a status is swept within about this, and 2 s at most
  // at the default), the most time between a skipped event and a subscriber's bookmark, and waiting reads per key.
  SWEEP_INTERVAL_MS: intFrom(1_000, 10),
  SWEEP_MAX_PER_SECOND: intFrom(3_000, 1),
  BOOKMARK_INTERVAL_MS: intFrom(10_000, 10),
  WAIT_MAX_PER_KEY: intFrom(1_000, 1),
  SHUTDOWN_GRACE_MS: intFrom(10_000, 0),
  IDEMPOTENCY_TTL_HOURS: intFrom(24, 1),
  RETENTION_TERMINAL_DAYS: intFrom(30, 1),
  RETENTION_FAILED_DAYS: intFrom(30, 1),
  RETENTION_EVENTS_DAYS: intFrom(7, 1),
  RETENTION_INTERVAL_MS: intFrom(600_000, 0),
  RETENTION_BATCH_SIZE: intFrom(500, 1),
  WEBHOOK_MAX_ATTEMPTS: intFrom(8, 1, 100),
  WEBHOOK_BACKOFF_BASE_MS: intFrom(1000, 1),
  WEBHOOK_TIMEOUT_MS: intFrom(5000, 1),
  WEBHOOK_CONCURRENCY: intFrom(64, 1),
  WEBHOOK_CONCURRENCY_PER_WEBHOOK: intFrom(4, 1),
})

export const ConfigSchema = EnvShape.refine((c) => c.RATE_LIMIT_BURST >= c.RATE_LIMIT_RPS, {
  path: ['RATE_LIMIT_BURST'],
  message: 'must be at least RATE_LIMIT_RPS',
}).refine((c) => c.WEBHOOK_CONCURRENCY_PER_WEBHOOK <= c.WEBHOOK_CONCURRENCY, {
  path: ['WEBHOOK_CONCURRENCY_PER_WEBHOOK'],
  message: 'must be at most WEBHOOK_CONCURRENCY',
})

export type Config = z.infer<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parses the environment once at start-up; a bad value stops the process with the variable's name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.fromEntries(
    // Blank (empty or only spaces) means unset: z.coerce.number would read '  ' as 0.
    Object.keys(EnvShape.shape).map((key) => [key, env[key]?.trim() === '' ? undefined : env[key]]),
  )
  const parsed = ConfigSchema.safeParse(known)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`)
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`)
  }
  return parsed.data
}
