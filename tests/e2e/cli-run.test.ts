// `status-tracker run` around real shell commands, against a real server process.
import type { StatusRecord } from '../../src/client'
import { closeClients } from '../helpers/api-client'
import { serveForCli } from '../helpers/cli'
import { exitedWithin, runCli, spawnCli, useTempDatabases, type Spawned } from '../helpers/server-process'
import { until } from '../helpers/wait'

jest.setTimeout(60_000)

const newDatabase = useTempDatabases()
afterEach(closeClients)

const serve = () => serveForCli(newDatabase())

type Api = Awaited<ReturnType<typeof serve>>['api']

/** The record once `check` holds for it (the status may not exist yet). */
async function recordWhen(api: Api, id: string, check: (r: StatusRecord) => boolean, what: string) {
  let record: StatusRecord | undefined
  await until(async () => {
    record = await api.statuses.get(id).catch(() => undefined)
    return record !== undefined && check(record)
  }, what)
  return record!
}

const messages = async (api: Api, id: string) => (await api.logs.list(id, { limit: 100 })).items

const exitOf = async (cli: Spawned) => (await exitedWithin(cli)).code

test('when the command prints progress and exits 0, then its status went processing → completed with its lines as logs, its progress and heartbeats', async () => {
  const { api, env } = await serve()
  const script =
    'echo "copy 10%"; sleep 0.7; echo "copy 55%"; sleep 0.7; echo "copy 90%" >&2; sleep 2.5; echo done'
  const cli = spawnCli(
    [
      'run',
      '--id',
      'backup-1',
      '--kind',
      'backup.nightly',
      '--heartbeat-timeout',
      '3',
      '--progress',
      '(\\d+)%',
      '--',
      'sh',
      '-c',
      script,
    ],
    env,
  )

  // While the command is silent, heartbeats move last_heartbeat_at and leave the version alone.
  const at90 = await recordWhen(api, 'backup-1', (r) => r.progress_percentage === 90, 'progress 90')
  expect(at90).toMatchObject({ status: 'processing', kind: 'backup.nightly', heartbeat_timeout_s: 3 })
  const beat = await recordWhen(
    api,
    'backup-1',
    (r) => r.last_heartbeat_at! > at90.last_heartbeat_at! && r.status === 'processing',
    'a heartbeat',
  )
  expect(beat.version).toBe(at90.version)

  expect(await exitOf(cli)).toBe(0)
  expect(cli.stdout()).toBe('copy 10%\ncopy 55%\ndone\n')
  expect(cli.stderr()).toBe('copy 90%\n')
  const record = await api.statuses.get('backup-1')
  expect(record).toMatchObject({ status: 'completed', progress_percentage: 100, error_info: null })
  expect((await messages(api, 'backup-1')).map((l) => [l.level, l.message])).toEqual([
    ['info', 'copy 10%'],
    ['info', 'copy 55%'],
    ['warn', 'copy 90%'],
    ['info', 'done'],
  ])
  const history = (await api.statuses.history('backup-1', { limit: 100 })).items
  expect(history.map((e) => e.status.status)).toEqual(
    expect.arrayContaining(['pending', 'processing', 'completed']),
  )
  // Progress went up through what the lines said (values close in time may be sent as the latest one).
  const progress = history
    .filter((e) => e.changes.progress_percentage)
    .map((e) => e.status.progress_percentage)
  expect(progress.at(-1)).toBe(100)
  expect(progress.slice(0, -1).at(-1)).toBe(90)
  expect(progress.slice(0, -1).every((p) => [10, 55, 90].includes(p))).toBe(true)
  expect(progress).toEqual([...progress].sort((a, b) => a - b))
})

test('when the command exits 3, then the status failed with exit-3 and its last lines, and run exits 3', async () => {
  const { api, env } = await serve()
  const done = await runCli(
    ['run', '--id', 'import-7', '--', 'sh', '-c', 'echo reading; echo "bad row 12" >&2; exit 3'],
    env,
  )
  expect(done.code).toBe(3)
  const record = await api.statuses.get('import-7')
  expect(record.status).toBe('failed')
  expect(record.error_info!.code).toBe('exit-3')
  expect(record.error_info!.message.split('\n').sort()).toEqual(['bad row 12', 'reading'])
})

test('when run is sent SIGTERM, then the command gets it, the status is cancelled, and run exits as the command did', async () => {
  const { api, env } = await serve()
  const cli = spawnCli(['run', '--id', 'long-1', '--', 'sh', '-c', 'echo started; exec sleep 30'], env)
  await until(async () => (await messages(api, 'long-1').catch(() => [])).length === 1, 'the first line')
  await recordWhen(api, 'long-1', (r) => r.status === 'processing', 'processing')
  cli.child.kill('SIGTERM')
  expect(await exitOf(cli)).toBe(128 + 15)
  expect((await api.statuses.get('long-1')).status).toBe('cancelled')
})

test('when the command is killed by a signal of its own, then the status failed with exit-137', async () => {
  const { api, env } = await serve()
  const done = await runCli(['run', '--id', 'oom-1', '--', 'sh', '-c', 'kill -9 $$'], env)
  expect(done.code).toBe(137)
  expect((await api.statuses.get('oom-1')).error_info).toMatchObject({
    code: 'exit-137',
    message: 'killed by SIGKILL',
  })
})

test('when the status is cancelled elsewhere while the command runs, then the command is sent SIGTERM', async () => {
  const { api, env } = await serve()
  const cli = spawnCli(
    ['run', '--id', 'stop-me', '--heartbeat-timeout', '3', '--', 'sh', '-c', 'exec sleep 30'],
    env,
  )
  await recordWhen(api, 'stop-me', (r) => r.status === 'processing', 'processing')
  await api.statuses.cancel('stop-me')
  expect(await exitOf(cli)).toBe(128 + 15)
  expect(cli.stderr()).toContain('became cancelled elsewhere')
  expect((await api.statuses.get('stop-me')).status).toBe('cancelled')
})

test('when --id names an existing status, then run takes it; a terminal one is left alone and the command still runs', async () => {
  const { api, env } = await serve()
  await api.statuses.create({ status_id: 'nightly', kind: 'cron' })
  expect((await runCli(['run', '--id', 'nightly', '--', 'true'], env)).code).toBe(0)
  expect(await api.statuses.get('nightly')).toMatchObject({ status: 'completed', kind: 'cron' })

  const again = await runCli(['run', '--id', 'nightly', '--', 'sh', '-c', 'echo still runs; exit 4'], env)
  expect(again).toMatchObject({ code: 4, stdout: 'still runs\n' })
  expect(again.stderr).toContain('status nightly is already completed; not reporting')
  expect((await api.statuses.get('nightly')).status).toBe('completed')
})

test('when the service stops mid-run, then the command finishes with its own exit code and run says why it could not report', async () => {
  const { server, api, env } = await serve()
  const cli = spawnCli(
    ['run', '--id', 'orphan', '--report-timeout', '1', '--', 'sh', '-c', 'echo a; sleep 1.5; echo b; exit 5'],
    env,
  )
  await recordWhen(api, 'orphan', (r) => r.status === 'processing', 'processing')
  await server.kill('SIGKILL')
  expect(await exitOf(cli)).toBe(5)
  expect(cli.stdout()).toBe('a\nb\n')
  expect(cli.stderr()).toContain('the service is unreachable')
  expect(cli.stderr()).toContain('could not report the end of orphan within 1 s; giving up')
})

test('when the service is unreachable from the start, then the command runs all the same and its exit code stands', async () => {
  const env = { STATUS_TRACKER_URL: 'http://127.0.0.1:9', STATUS_TRACKER_TOKEN: 'st_nothing' }
  const done = await runCli(['run', '--report-timeout', '1', '--', 'sh', '-c', 'echo hi; exit 0'], env)
  expect(done).toMatchObject({ code: 0, stdout: 'hi\n' })
  expect(done.stderr).toMatch(/reporting as status run-[0-9a-f-]{36}/)
  expect(done.stderr).toContain('the service is unreachable')
})

test('when the command cannot be started, then run exits 127 and the status failed with exit-127', async () => {
  const { api, env } = await serve()
  const done = await runCli(['run', '--id', 'typo', '--', 'no-such-command-here'], env)
  expect(done.code).toBe(127)
  expect((await api.statuses.get('typo')).error_info!.code).toBe('exit-127')
})

test('when the command line is wrong, then run exits 2 with its usage and starts nothing', async () => {
  const env = { STATUS_TRACKER_URL: 'http://127.0.0.1:9' }
  for (const args of [
    ['run', 'echo', 'hi'],
    ['run', '--bogus', '--', 'true'],
    ['run', '--progress', '(', '--', 'true'],
    ['nothing'],
  ]) {
    const done = await runCli(args, env)
    expect({ args, code: done.code, stdout: done.stdout }).toEqual({ args, code: 2, stdout: '' })
    expect(done.stderr).toContain('Usage: status-tracker')
  }
  const help = await runCli(['run', '--help'], env)
  expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: status-tracker run') })
})
