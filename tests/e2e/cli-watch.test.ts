// `status-tracker watch`, `get`, `list`, `cancel` and `logs` against a real server process; watch's
// bars in a real pseudo-terminal (tmux, its screen read with capture-pane).
import { execFileSync, spawnSync } from 'node:child_process'
import type { StatusEvent, StatusRecord } from '../../src/client'
import { closeClients } from '../helpers/api-client'
import { serveForCli } from '../helpers/cli'
import {
  cliEntry,
  exitedWithin,
  projectRoot,
  runCli,
  spawnCli,
  useTempDatabases,
} from '../helpers/server-process'
import { startTcpProxy } from '../helpers/tcp-proxy'
import { until } from '../helpers/wait'

jest.setTimeout(60_000)

const newDatabase = useTempDatabases()
afterEach(closeClients)

const serve = () => serveForCli(newDatabase())

const hasTmux = spawnSync('tmux', ['-V']).status === 0
if (!hasTmux && process.env.CI) throw new Error('tmux is not installed (Debian package tmux)')
if (!hasTmux) console.warn('tmux is not installed: the pseudo-terminal tests of watch are skipped')

/** A tmux server of its own, running one command in a 120×20 window whose screen can be read. */
function terminal(command: string, env: Record<string, string>) {
  const socket = `status-tracker-test-${process.pid}-${Date.now()}`
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
  const exports = Object.entries(env).map(([name, value]) => `${name}='${value}'`)
  // The pane stays once the command exits, so that its exit code can be read off the screen.
  tmux(
    'new-session',
    '-d',
    '-x',
    '120',
    '-y',
    '20',
    `cd ${projectRoot} && env ${exports.join(' ')} ${command}; echo "EXIT=$?"; sleep 60`,
  )
  return {
    screen: () => tmux('capture-pane', '-p'),
    close: () => tmux('kill-server'),
  }
}

const tmuxTest = hasTmux ? test : test.skip

tmuxTest(
  'when watch runs in a terminal, then each status has a bar that moves, and --until terminal exits 0 when all completed',
  async () => {
    const { api, env } = await serve()
    for (const id of ['encode-720p', 'encode-1080p'])
      await api.statuses.create({ status_id: id, status: 'processing' })
    const tty = terminal(`node ${cliEntry} watch encode-720p encode-1080p --until terminal`, env)
    try {
      const line = (id: string) =>
        tty
          .screen()
          .split('\n')
          .find((l) => l.startsWith(id)) ?? ''
      await until(() => line('encode-1080p').includes('0%'), 'the bars')
      await api.statuses.update('encode-720p', { progress_percentage: 30, message: 'pass 1' })
      await until(
        () => /encode-720p\s+█+░+\s+30%\s+processing\s+ETA \S+\s+pass 1/.test(line('encode-720p')),
        'the bar at 30%',
      )
      await api.statuses.update('encode-720p', { progress_percentage: 70, message: 'pass 2' })
      await until(
        () => line('encode-720p').includes('70%') && line('encode-720p').includes('pass 2'),
        'the bar at 70%',
      )
      expect(line('encode-1080p')).toMatch(/encode-1080p\s+░+\s+0%\s+processing/)
      await api.statuses.update('encode-720p', { new_status: 'completed' })
      await until(() => line('encode-720p').includes('100%  completed'), 'the bar completed')
      expect(tty.screen()).not.toContain('EXIT=')
      await api.statuses.update('encode-1080p', { new_status: 'completed' })
      await until(() => tty.screen().includes('EXIT=0'), 'watch to exit 0')
    } finally {
      tty.close()
    }
  },
)

tmuxTest(
  'when a watched status fails, then watch --until terminal exits 1 once the others are terminal',
  async () => {
    const { api, env } = await serve()
    for (const id of ['a', 'b']) await api.statuses.create({ status_id: id, status: 'processing' })
    const tty = terminal(`node ${cliEntry} watch a b --until terminal`, env)
    try {
      await until(() => /^b\s/m.test(tty.screen()), 'the bars')
      await api.statuses.recordError('a', { error_info: { message: 'disk full' }, should_retry: false })
      await until(() => /^a\s.*failed/m.test(tty.screen()), 'a failed')
      await api.statuses.cancel('b')
      await until(() => tty.screen().includes('EXIT=1'), 'watch to exit 1')
    } finally {
      tty.close()
    }
  },
)

test('when watch --json loses its connection, then it resumes and prints every event of the status once, in order', async () => {
  const { server, api, env } = await serve()
  await api.statuses.create({ status_id: 'job', status: 'processing' })
  const proxy = await startTcpProxy(server.port)
  try {
    const cli = spawnCli(['watch', 'job', '--json', '--until', 'terminal'], {
      ...env,
      STATUS_TRACKER_URL: `http://127.0.0.1:${proxy.port}`,
    })
    const printed = () =>
      cli
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { type: string; status?: StatusRecord } & Partial<StatusEvent>)
    await until(() => printed().length === 1, 'the snapshot')
    for (let p = 1; p <= 10; p += 1) await api.statuses.update('job', { progress_percentage: p })
    await until(() => printed().length === 11, 'ten events')
    expect(proxy.cut()).toBeGreaterThan(0)
    // Written while watch is cut off: it must get them on resuming.
    for (let p = 11; p <= 20; p += 1) await api.statuses.update('job', { progress_percentage: p })
    await api.logs.append('job', [{ message: 'almost there' }])
    await api.statuses.update('job', { new_status: 'completed' })
    expect((await exitedWithin(cli)).code).toBe(0)

    const [snapshot, ...events] = printed()
    expect(snapshot).toMatchObject({ type: 'status.snapshot', status: { status_id: 'job', version: 1 } })
    const changes = events.filter((e) => e.type !== 'status.log')
    expect(changes.map((e) => e.version)).toEqual(Array.from({ length: 21 }, (_, i) => i + 2))
    expect(changes.slice(0, 20).map((e) => e.status!.progress_percentage)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    )
    expect(events.filter((e) => e.type === 'status.log').map((e) => e.lines![0]!.message)).toEqual([
      'almost there',
    ])
    const seqs = events.map((e) => e.seq!)
    expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y))
    expect(cli.stderr()).toContain('connection lost; resuming')
  } finally {
    await proxy.close()
  }
})

test('when watch is given an unknown status, a bad filter or a bad token, then it exits 3 or 2 saying why', async () => {
  const { api, env } = await serve()
  await api.statuses.create({ status_id: 'known' })
  const unknown = await runCli(['watch', 'known', 'missing', '--until', 'terminal'], env)
  expect(unknown).toMatchObject({ code: 3, stderr: expect.stringContaining('no such status: missing') })
  const badFilter = await runCli(['watch', '--filter', 'status=exploded'], env)
  expect(badFilter).toMatchObject({ code: 3, stderr: expect.stringContaining('400 validation-failed') })
  const badToken = await runCli(['watch', 'known'], { ...env, STATUS_TRACKER_TOKEN: 'st_wrong' })
  expect(badToken).toMatchObject({ code: 3, stderr: expect.stringContaining('401') })
  expect((await runCli(['watch', 'known', '--filter', 'kind=x'], env)).code).toBe(2)
  expect((await runCli(['watch', 'known', '--until', 'forever'], env)).code).toBe(2)
})

test('when watch --filter selects by parent, then a plain line per change follows and it ends when the children are terminal', async () => {
  const { api, env } = await serve()
  const parent = await api.statuses.create({ status_id: 'report' })
  for (const id of ['s1', 's2']) await api.statuses.create({ status_id: id, parent_id: parent.status_id })
  const cli = spawnCli(['watch', '--filter', 'parent_id=report', '--until', 'terminal'], env)
  await until(() => cli.stdout().split('\n').length > 2, 'the snapshot lines')
  await api.statuses.update('s1', { new_status: 'processing', progress_percentage: 50, message: 'half' })
  await api.statuses.update('s1', { new_status: 'completed' })
  await api.statuses.update('s2', { new_status: 'processing' })
  await api.statuses.update('s2', { new_status: 'completed' })
  expect((await exitedWithin(cli)).code).toBe(0)
  expect(cli.stderr()).toBe('')
  const lines = cli.stdout().trim().split('\n')
  expect(
    lines
      .slice(0, 2)
      .map((l) => l.split(/\s+/).slice(1, 4))
      .sort(),
  ).toEqual([
    ['s1', 'pending', '0%'],
    ['s2', 'pending', '0%'],
  ])
  expect(lines.slice(2).map((l) => l.split(/\s+/).slice(1).join(' '))).toEqual([
    's1 processing 50% half',
    's1 completed 100% half',
    's2 processing 0%',
    's2 completed 100%',
  ])
})

test('when get, list and cancel are run, then they print for people, or JSON with --json, and exit 3 on a refusal', async () => {
  const { api, env } = await serve()
  await api.statuses.create({ status_id: 'v-1', kind: 'video', tags: ['a'] })
  await api.statuses.create({ status_id: 'v-2', kind: 'video' })
  await api.statuses.update('v-2', { new_status: 'processing', progress_percentage: 42, message: 'encoding' })
  await api.statuses.create({ status_id: 'other', kind: 'import' })

  const got = await runCli(['get', 'v-2'], env)
  expect(got.code).toBe(0)
  expect(got.stdout).toMatch(/^id:\s+v-2$/m)
  expect(got.stdout).toMatch(/^status:\s+processing$/m)
  expect(got.stdout).toMatch(/^progress:\s+42%$/m)
  expect(got.stdout).toMatch(/^message:\s+encoding$/m)
  const json = await runCli(['get', 'v-2', '--json'], env)
  expect(JSON.parse(json.stdout)).toEqual(await api.statuses.get('v-2'))

  const listed = await runCli(['list', '--filter', 'kind=video', '--sort', 'status_id'], env)
  expect(listed.code).toBe(0)
  expect(listed.stdout.split('\n').map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual([
    'ID STATUS PROGRESS',
    'v-1 pending 0%',
    'v-2 processing 42%',
    '',
  ])
  const lines = (await runCli(['list', '--all', '--limit', '1', '--json', '--sort', 'status_id'], env)).stdout
  expect(
    lines
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as StatusRecord).status_id),
  ).toEqual(['other', 'v-1', 'v-2'])

  expect(await runCli(['cancel', 'v-1'], env)).toMatchObject({ code: 0, stdout: 'v-1 cancelled\n' })
  const again = await runCli(['cancel', 'v-1'], env)
  expect(again).toMatchObject({ code: 3, stderr: expect.stringContaining('409 invalid-transition') })
  expect((await runCli(['get', 'nope'], env)).code).toBe(3)
  expect((await runCli(['list', '--filter', 'colour=red'], env)).code).toBe(2)
  expect((await runCli(['get', 'v-1'], { STATUS_TRACKER_URL: 'http://127.0.0.1:9' })).code).toBe(4)
})

test('when logs --follow runs while lines are appended, then it prints each line once, in order, and ends with the status', async () => {
  const { api, env } = await serve()
  await api.statuses.create({ status_id: 'build', status: 'processing' })
  await api.logs.append('build', [{ message: 'fetch' }, { message: 'compile', level: 'warn' }])
  const cli = spawnCli(['logs', 'build', '--follow'], env)
  // Appends race the command's subscribe and read: each line must still come out once.
  for (let i = 1; i <= 30; i += 1) await api.logs.append('build', [{ message: `step ${i}` }])
  await until(() => cli.stdout().includes('step 30'), 'the last line')
  await api.statuses.update('build', { new_status: 'completed' })
  expect((await exitedWithin(cli)).code).toBe(0)
  const printed = cli
    .stdout()
    .trim()
    .split('\n')
    .map((l) => l.split(/\s{2,}/).slice(1))
  expect(printed).toEqual([
    ['info', 'fetch'],
    ['warn', 'compile'],
    ...Array.from({ length: 30 }, (_, i) => ['info', `step ${i + 1}`]),
  ])
  const json = await runCli(['logs', 'build', '--json'], env)
  expect(
    json.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { message: string }).message),
  ).toHaveLength(32)
})
