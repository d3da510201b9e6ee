#!/usr/bin/env node
import { EXIT, UsageError, type Command, type Io } from './args'
import { cancel, get, list, logs } from './commands'
import { run } from './run'
import { watch } from './watch'

const COMMANDS: Record<string, Command> = { run, watch, get, list, cancel, logs }

const usage = `Usage: status-tracker COMMAND [options]

Reports work to Status Tracker and follows it from a shell (docs/cli.md).

Commands:
  run -- CMD [ARGS…]    run CMD and report it as a status: logs, progress, heartbeats, its end
  watch ID… | --filter  live progress of statuses; --until terminal exits 0 when all completed
  get ID                one status
  list                  statuses, filtered and sorted
  cancel ID             cancel a status
  logs ID [--follow]    a status's log lines

Configured by STATUS_TRACKER_URL and STATUS_TRACKER_TOKEN (an API key or a browser token), or --url
and --token. \`status-tracker COMMAND --help\` tells more.
`

/** Runs one command line; resolves with the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    io.stderr.write(usage)
    return EXIT.usage
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage)
    return EXIT.ok
  }
  const command = COMMANDS[name]
  if (!command) {
    io.stderr.write(`status-tracker: unknown command "${name}"\n\n${usage}`)
    return EXIT.usage
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    io.stderr.write(`status-tracker ${name}: ${err.message}\n\n${command.usage}`)
    return EXIT.usage
  }
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code
      // Open sockets and timers of the client would keep the process up once the command is done.
      process.stdout.write('', () => process.exit(code))
    },
    (err: unknown) => {
      // 70 (EX_SOFTWARE): a fault of this command, told apart from every documented code.
      process.stderr.write(`status-tracker: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(70)
    },
  )
}
