import { ConfigError, loadConfig } from '../../src/config'

/** The message loadConfig stops with, or a failure when it does not stop. */
function rejectionOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`)
}

test('when nothing is set, then every variable takes its documented default', () => {
  expect(loadConfig({})).toEqual({
    NODE_ENV: 'development',
    PORT: 3000,
    HOST: '0.0.0.0',
    DATABASE_URL: 'file:./data/status.db',
    EVENT_POLL_MS: 100,
    RELAY_LEASE_MS: 30_000,
    SWEEP_INTERVAL_MS: 1000,
    SWEEP_MAX_PER_SECOND: 3000,
    BOOKMARK_INTERVAL_MS: 10_000,
    WAIT_MAX_PER_KEY: 1000,
    UPDATER_BATCH_SIZE: 500,
    UPDATER_FLUSH_MS: 5,
    UPDATER_MAX_QUEUE: 100000,
    SQLITE_SYNCHRONOUS: 'NORMAL',
    CORS_ORIGINS: '*',
    LOG_LEVEL: 'info',
    RATE_LIMIT_RPS: 1000,
    RATE_LIMIT_BURST: 2000,
    SHUTDOWN_GRACE_MS: 10_000,
    IDEMPOTENCY_TTL_HOURS: 24,
    RETENTION_TERMINAL_DAYS: 30,
    RETENTION_FAILED_DAYS: 30,
    RETENTION_EVENTS_DAYS: 7,
    RETENTION_INTERVAL_MS: 600_000,
    RETENTION_BATCH_SIZE: 500,
    WEBHOOK_MAX_ATTEMPTS: 8,
    WEBHOOK_BACKOFF_BASE_MS: 1000,
    WEBHOOK_TIMEOUT_MS: 5000,
    WEBHOOK_CONCURRENCY: 64,
    WEBHOOK_CONCURRENCY_PER_WEBHOOK: 4,
  })
})

test('when values are given, then they are parsed into their types', () => {
  const config = loadConfig({
    NODE_ENV: 'production',
    PORT: '8080',
    HOST: '127.0.0.1',
    DATABASE_URL: 'file:/var/lib/status/status.db',
    SQLITE_SYNCHRONOUS: 'FULL',
    CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_RPS: '50',
    RATE_LIMIT_BURST: '50',
    SHUTDOWN_GRACE_MS: '0',
    IDEMPOTENCY_TTL_HOURS: '48',
    RETENTION_TERMINAL_DAYS: '14',
    RETENTION_FAILED_DAYS: '90',
    RETENTION_EVENTS_DAYS: '3',
    RETENTION_INTERVAL_MS: '0',
    RETENTION_BATCH_SIZE: '100',
    RELAY_LEASE_MS: '5000',
    WEBHOOK_MAX_ATTEMPTS: '3',
    WEBHOOK_BACKOFF_BASE_MS: '250',
    WEBHOOK_TIMEOUT_MS: '2000',
    WEBHOOK_CONCURRENCY: '4',
    WEBHOOK_CONCURRENCY_PER_WEBHOOK: '1',
  })
  expect(config).toEqual({
    NODE_ENV: 'production',
    PORT: 8080,
    HOST: '127.0.0.1',
    DATABASE_URL: 'file:/var/lib/status/status.db',
    SQLITE_SYNCHRONOUS: 'FULL',
    CORS_ORIGINS: ['https://app.example.com', 'http://localhost:5173'],
    LOG_LEVEL: 'warn',
    RATE_LIMIT_RPS: 50,
    RATE_LIMIT_BURST: 50,
    SHUTDOWN_GRACE_MS: 0,
    IDEMPOTENCY_TTL_HOURS: 48,
    UPDATER_BATCH_SIZE: 500,
    UPDATER_FLUSH_MS: 5,
    UPDATER_MAX_QUEUE: 100000,
    EVENT_POLL_MS: 100,
    RELAY_LEASE_MS: 5000,
    SWEEP_INTERVAL_MS: 1000,
    SWEEP_MAX_PER_SECOND: 3000,
    BOOKMARK_INTERVAL_MS: 10_000,
    WAIT_MAX_PER_KEY: 1000,
    RETENTION_TERMINAL_DAYS: 14,
    RETENTION_FAILED_DAYS: 90,
    RETENTION_EVENTS_DAYS: 3,
    RETENTION_INTERVAL_MS: 0,
    RETENTION_BATCH_SIZE: 100,
    WEBHOOK_MAX_ATTEMPTS: 3,
    WEBHOOK_BACKOFF_BASE_MS: 250,
    WEBHOOK_TIMEOUT_MS: 2000,
    WEBHOOK_CONCURRENCY: 4,
    WEBHOOK_CONCURRENCY_PER_WEBHOOK: 1,
  })
})

test.each(['postgresql://app:secret@db.internal:5432/status', 'postgres://localhost/status'])(
  'when DATABASE_URL is a PostgreSQL URL (%s), then it is accepted',
  (url) => {
    expect(loadConfig({ DATABASE_URL: url }).DATABASE_URL).toBe(url)
  },
)

test.each(['none', 'NONE'])('when CORS_ORIGINS is %p, then no origin is allowed', (value) => {
  expect(loadConfig({ CORS_ORIGINS: value }).CORS_ORIGINS).toEqual([])
})

test('when PORT is 0, then it is accepted (the system picks a free port)', () => {
  expect(loadConfig({ PORT: '0' }).PORT).toBe(0)
})

test.each([
  ['PORT', 'abc'],
  ['PORT', '65536'],
  ['PORT', '-1'],
  ['PORT', '80.5'],
  ['NODE_ENV', 'staging'],
  ['DATABASE_URL', 'mysql://localhost/status'],
  ['DATABASE_URL', './data/status.db'],
  ['DATABASE_URL', 'postgresql://'],
  ['SQLITE_SYNCHRONOUS', 'OFF'],
  ['CORS_ORIGINS', 'app.example.com'],
  ['CORS_ORIGINS', 'https://app.example.com/'],
  ['CORS_ORIGINS', 'https://app.example.com/path'],
  ['CORS_ORIGINS', 'https://app.example.com,,https://other.example.com'],
  ['CORS_ORIGINS', 'ftp://files.example.com'],
  ['CORS_ORIGINS', '*,https://app.example.com'],
  ['LOG_LEVEL', 'verbose'],
  ['RATE_LIMIT_RPS', '0'],
  ['RATE_LIMIT_RPS', 'fast'],
  ['RATE_LIMIT_BURST', '0'],
  ['SHUTDOWN_GRACE_MS', '-5'],
  ['SHUTDOWN_GRACE_MS', 'soon'],
  ['IDEMPOTENCY_TTL_HOURS', '0'],
  ['RETENTION_TERMINAL_DAYS', '0'],
  ['RETENTION_FAILED_DAYS', 'forever'],
  ['RETENTION_EVENTS_DAYS', '1.5'],
  ['RETENTION_INTERVAL_MS', '-1'],
  ['RETENTION_BATCH_SIZE', '0'],
  ['WEBHOOK_MAX_ATTEMPTS', '0'],
  ['WEBHOOK_MAX_ATTEMPTS', '101'],
  ['WEBHOOK_MAX_ATTEMPTS', 'many'],
  ['WEBHOOK_BACKOFF_BASE_MS', '0'],
  ['WEBHOOK_BACKOFF_BASE_MS', '1.5'],
  ['WEBHOOK_TIMEOUT_MS', '0'],
  ['WEBHOOK_TIMEOUT_MS', '5s'],
  ['WEBHOOK_CONCURRENCY', '0'],
  ['WEBHOOK_CONCURRENCY', '-2'],
  ['WEBHOOK_CONCURRENCY_PER_WEBHOOK', '0'],
])('when %s is %p, then start-up stops with a message naming the variable', (name, value) => {
  const err = rejectionOf({ [name]: value })
  expect(err.message).toContain(`${name}:`)
})

test('when several values are bad, then the message names each of them', () => {
  const err = rejectionOf({ PORT: 'abc', LOG_LEVEL: 'loud' })
  expect(err.message).toContain('PORT:')
  expect(err.message).toContain('LOG_LEVEL:')
})

test('when RATE_LIMIT_BURST is below RATE_LIMIT_RPS, then start-up stops naming RATE_LIMIT_BURST', () => {
  const err = rejectionOf({ RATE_LIMIT_RPS: '100', RATE_LIMIT_BURST: '50' })
  expect(err.message).toMatch(/RATE_LIMIT_BURST: .*RATE_LIMIT_RPS/)
})

test('when RATE_LIMIT_RPS is raised above the default burst alone, then start-up stops naming RATE_LIMIT_BURST', () => {
  const err = rejectionOf({ RATE_LIMIT_RPS: '5000' })
  expect(err.message).toContain('RATE_LIMIT_BURST:')
})

test('when WEBHOOK_CONCURRENCY_PER_WEBHOOK exceeds WEBHOOK_CONCURRENCY, then start-up stops naming it', () => {
  const err = rejectionOf({ WEBHOOK_CONCURRENCY: '4', WEBHOOK_CONCURRENCY_PER_WEBHOOK: '8' })
  expect(err.message).toMatch(/WEBHOOK_CONCURRENCY_PER_WEBHOOK: .*WEBHOOK_CONCURRENCY/)
})

test.each(['', '   '])('when every variable is %p, then each takes its default', (blank) => {
  const names = Object.keys(loadConfig({}))
  const env = Object.fromEntries(names.map((name) => [name, blank]))
  expect(loadConfig(env)).toEqual(loadConfig({}))
})

test('when unrelated variables are set, then they are ignored', () => {
  expect(loadConfig({ PATH: '/usr/bin', npm_config_nodedir: 'x', PORT: '4000' }).PORT).toBe(4000)
})
