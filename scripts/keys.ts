// Manages API keys in the database named by DATABASE_URL (created and migrated first when new):
//   npm run keys -- create --tenant T --scopes status:read,status:write
//   npm run keys -- list [--tenant T]
//   npm run keys -- revoke <key-id>
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../src/config'
import type { ApiKeyRow } from '../src/db/key-repository'
import { openDatabase } from '../src/db/prisma'
import { createServices, type Services } from '../src/services'
import { SCOPES, type Scope } from '../src/services/api-key-service'

const usage = `Usage: npm run keys -- <command> [options]

  create --tenant T --scopes S[,S...]   create a key (and the tenant if new); the key is printed once,
                                        alone on the last line
  list [--tenant T]                     list keys: id, tenant, scopes, created, revoked
  revoke <key-id>                       revoke an active key

Scopes: ${SCOPES.join(', ')}. The database is DATABASE_URL (default file:./data/status.db).`

const TENANT_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/

class UsageError extends Error {}

type Command =
  | { name: 'help' }
  | { name: 'create'; tenant: string; scopes: Scope[] }
  | { name: 'list'; tenant?: string }
  | { name: 'revoke'; id: string }

function parseTenant(raw: string | undefined, required: boolean): string | undefined {
  if (raw === undefined) {
    if (required) throw new UsageError('create needs --tenant')
    return undefined
  }
  if (!TENANT_PATTERN.test(raw))
    throw new UsageError(`--tenant must be 1–128 of A–Z a–z 0–9 _ . : -, got "${raw}"`)
  return raw
}

function parseScopes(raw: string | undefined): Scope[] {
  if (raw === undefined) throw new UsageError('create needs --scopes')
  const scopes = raw
    .split(',')
    .map((scope) => scope.trim())
    .filter(Boolean)
  if (scopes.length === 0) throw new UsageError('--scopes needs at least one scope')
  for (const scope of scopes) {
    if (!(SCOPES as readonly string[]).includes(scope)) {
      throw new UsageError(`unknown scope "${scope}" (expected ${SCOPES.join(', ')})`)
    }
  }
  return [...new Set(scopes as Scope[])]
}

function parseCommand(argv: string[]): Command {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        tenant: { type: 'string' },
        scopes: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const { values, positionals } = parsed
  if (values.help) return { name: 'help' }
  const [command, ...rest] = positionals
  const noExtra = (allowed: number) => {
    if (rest.length > allowed) throw new UsageError(`unexpected argument "${rest[allowed]}"`)
  }
  const onlyOptions = (allowed: string[]) => {
    const extra = Object.keys(values).find((option) => !allowed.includes(option))
    if (extra) throw new UsageError(`${command} does not take --${extra}`)
  }
  switch (command) {
    case 'create':
      noExtra(0)
      return { name: 'create', tenant: parseTenant(values.tenant, true)!, scopes: parseScopes(values.scopes) }
    case 'list':
      noExtra(0)
      onlyOptions(['tenant'])
      return { name: 'list', tenant: parseTenant(values.tenant, false) }
    case 'revoke':
      noExtra(1)
      onlyOptions([])
      if (rest[0] === undefined) throw new UsageError('revoke needs a key id')
      return { name: 'revoke', id: rest[0] }
    case undefined:
      throw new UsageError('a command is required')
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

function formatTable(keys: ApiKeyRow[]): string {
  const rows = [
    ['ID', 'TENANT', 'SCOPES', 'CREATED', 'REVOKED'],
    ...keys.map((key) => [
      key.id,
      key.tenant_id,
      key.scopes.join(','),
      key.created_at.toISOString(),
      key.revoked_at?.toISOString() ?? '-',
    ]),
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** Returns the exit code. */
async function run(command: Exclude<Command, { name: 'help' }>, services: Services): Promise<number> {
  const { apiKeys } = services
  switch (command.name) {
    case 'create': {
      const { key, secret } = await apiKeys.create(command.tenant, command.scopes)
      process.stdout.write(
        `Created ${key.id} for tenant "${key.tenant_id}" with scopes ${key.scopes.join(',')}. ` +
          `The key is shown only this once:\n${secret}\n`,
      )
      return 0
    }
    case 'list': {
      const keys = await apiKeys.list(command.tenant)
      process.stdout.write(keys.length === 0 ? 'No API keys.\n' : `${formatTable(keys)}\n`)
      return 0
    }
    case 'revoke': {
      if (!(await apiKeys.revoke(command.id))) {
        process.stderr.write(`No active API key with id "${command.id}".\n`)
        return 1
      }
      process.stdout.write(`Revoked ${command.id}.\n`)
      return 0
    }
  }
}

async function main(): Promise<number> {
  let command: Command
  try {
    command = parseCommand(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`${err.message}\n\n${usage}\n`)
    return 2
  }
  if (command.name === 'help') {
    process.stdout.write(`${usage}\n`)
    return 0
  }

  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    return 1
  }
  const db = await openDatabase({ url: config.DATABASE_URL, synchronous: config.SQLITE_SYNCHRONOUS })
  const services = await createServices({ db }).catch(async (err: unknown) => {
    await db.close()
    throw err
  })
  try {
    return await run(command, services)
  } finally {
    await services.stop()
  }
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`keys failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)
