import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core'
import { STATUS_VALUES } from '../../src/domain/transitions'
import { launchChromium, screenshot } from '../helpers/browser'
import {
  killAllProcesses,
  lastLine,
  runKeysCli,
  startServerProcess,
  tempDatabase,
  type ServerProcess,
} from '../helpers/server-process'
import { until } from '../helpers/wait'

jest.setTimeout(120_000)

const database = tempDatabase()
let server: ServerProcess
let adminKey: string
let readKey: string
let browser: Browser
let context: BrowserContext
let page: Page

async function call(method: string, path: string, body?: unknown, key = adminKey) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`)
  return text ? (JSON.parse(text) as Record<string, unknown>) : {}
}

/** A read-write key of a tenant of its own, made with the keys CLI as an operator would. */
async function keyForNewTenant(tenant: string) {
  const created = await runKeysCli(
    database.url,
    'create',
    '--tenant',
    tenant,
    '--scopes',
    'status:read,status:write',
  )
  expect(created.code).toBe(0)
  return lastLine(created.stdout)
}

const createStatus = (body: Record<string, unknown>) => call('POST', '/api/status', body)
const updateStatus = (id: string, body: Record<string, unknown>) => call('PUT', `/api/status/${id}`, body)
const uniqueKind = (name: string) => `${name}.${randomUUID().slice(0, 8)}`

beforeAll(async () => {
  // The sweeper looks once an hour, so a stalled status stays stalled for the dashboard to show it.
  server = await startServerProcess({ DATABASE_URL: database.url, SWEEP_INTERVAL_MS: '3600000' })
  adminKey = server.adminKey!
  // The dashboard only reads: it is given a key with status:read alone.
  readKey = (await call('POST', '/api/keys', { scopes: ['status:read'] })).key as string
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  await killAllProcesses()
  database.cleanup()
})

beforeEach(async () => {
  // A context per test: its own sessionStorage, so each test starts signed out.
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  page = await context.newPage()
})
afterEach(() => context.close())

const row = (id: string) => page.locator(`tr[data-row="${id}"]`)
const liveIndicator = () => page.locator('.live[role="status"]')

async function signIn(key = readKey) {
  await page.goto(`${server.baseUrl}/`)
  await page.getByLabel('API key').fill(key)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await liveIndicator().and(page.locator('[data-state="live"]')).waitFor()
}

async function filterByKind(kind: string) {
  await page.getByLabel('Kind').fill(kind)
  await page.getByLabel('Kind').press('Enter')
}

test('when a wrong key is entered, then the page says it was not accepted and stays on the sign-in form', async () => {
  await page.goto(`${server.baseUrl}/`)
  await page.getByLabel('API key').fill('st_not-a-real-key')
  await page.getByRole('button', { name: 'Sign in' }).click()

  await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor()
  expect(await page.getByLabel('API key').isVisible()).toBe(true)
  expect(await page.evaluate('sessionStorage.length')).toBe(0)
  await screenshot(page, 'sign-in-refused')
})

test('when a status is created and goes pending → processing → completed, then the filtered table shows each step live without a reload', async () => {
  const kind = uniqueKind('live')
  const other = await createStatus({ status_id: `other-${randomUUID().slice(0, 8)}`, kind: 'other.kind' })
  await signIn()
  await row(other.status_id as string).waitFor()

  await filterByKind(kind)
  await page.getByText('No statuses match these filters.').waitFor()
  expect(await row(other.status_id as string).count()).toBe(0)
  await page.evaluate('window.sameDocument = true')
  const listCalls: string[] = []
  page.on('request', (request) => {
    const url = new URL(request.url())
    if (url.pathname === '/api/status' && request.method() === 'GET') listCalls.push(url.search)
  })

  const id = `live-${randomUUID().slice(0, 8)}`
  await createStatus({ status_id: id, kind, message: 'queued' })
  await row(id).and(page.locator('[data-state="pending"]')).waitFor()
  const callsBeforeUpdates = listCalls.length

  await updateStatus(id, { new_status: 'processing', progress_percentage: 40, message: 'encoding' })
  await row(id).locator('[role="progressbar"][aria-valuenow="40"]').waitFor()
  expect(await row(id).getAttribute('data-state')).toBe('processing')
  await updateStatus(id, { progress_percentage: 75 })
  await row(id).locator('[role="progressbar"][aria-valuenow="75"]').waitFor()
  await screenshot(page, 'live-processing')
  await updateStatus(id, { new_status: 'completed' })
  await row(id).and(page.locator('[data-state="completed"]')).waitFor()

  expect(await row(id).locator('[role="progressbar"]').getAttribute('aria-valuenow')).toBe('100')
  expect(await row(id).locator('.message').textContent()).toBe('encoding')
  // The row changed through the socket's events: the page neither reloaded nor fetched the list again.
  expect(listCalls.length).toBe(callsBeforeUpdates)
  expect(await page.evaluate('window.sameDocument')).toBe(true)
  // The counts follow the events too.
  const completed = ((await call('GET', '/api/stats')).by_status as Record<string, number>).completed
  await page
    .locator(`[data-count="completed"]`)
    .filter({ hasText: new RegExp(`^${completed}$`) })
    .waitFor()
  await screenshot(page, 'live-completed')
})

test('when a status ID is reached with Tab and Enter pressed, then the drawer shows its record, history and last error, follows it live, and Escape closes it returning focus', async () => {
  const id = `drawer-${randomUUID().slice(0, 8)}`
  await createStatus({
    status_id: id,
    kind: uniqueKind('drawer'),
    max_retries: 3,
    metadata: { source: 'test' },
  })
  await updateStatus(id, { new_status: 'processing', progress_percentage: 20 })
  await call('POST', `/api/status/${id}/errors`, {
    error_info: { message: 'encoder crashed', code: 'ENCODER_EXIT' },
    should_retry: true,
  })
  await signIn()
  await page.getByLabel('Search').fill(id)
  await page.getByLabel('Search').press('Enter')
  await row(id).and(page.locator('[data-state="retry_pending"]')).waitFor()

  // Tab from the filters to the row's ID button: the table is reachable by keyboard alone.
  await page.getByRole('button', { name: 'Apply filters' }).focus()
  await until(async () => {
    await page.keyboard.press('Tab')
    return (await page.evaluate('document.activeElement?.dataset?.statusId ?? null')) === id
  }, `Tab reaches the button of ${id}`)
  await page.keyboard.press('Enter')

  const drawer = page.getByRole('dialog', { name: id })
  await drawer.waitFor()
  expect(await page.evaluate('document.activeElement?.closest("dialog") !== null')).toBe(true)
  await drawer.locator('li[data-event-type="status.error"]').waitFor()
  expect(
    await drawer
      .locator('ol.timeline > li')
      .evaluateAll((items) => items.map((li) => li.getAttribute('data-event-type'))),
  ).toEqual(['status.created', 'status.updated', 'status.error'])
  expect(await drawer.getByTestId('error-info').textContent()).toContain('encoder crashed')
  expect(await drawer.getByTestId('error-info').textContent()).toContain('ENCODER_EXIT')
  expect(await drawer.getByText('Retries used: 1 of 3').count()).toBe(1)

  await updateStatus(id, { new_status: 'processing', progress_percentage: 55 })
  await drawer.locator('ol.timeline > li').nth(3).waitFor()
  await drawer.locator('[role="progressbar"][aria-valuenow="55"]').waitFor()
  await screenshot(page, 'drawer')

  await page.keyboard.press('Escape')
  await drawer.waitFor({ state: 'hidden' })
  expect(await page.evaluate('document.activeElement?.dataset?.statusId ?? null')).toBe(id)
})

test('when a status has stalled or is overdue, then its row and drawer say so, with its deadline and heartbeat', async () => {
  const kind = uniqueKind('liveness')
  const deadline = new Date(Date.now() + 3_600_000).toISOString()
  const stalled = `stalled-${randomUUID().slice(0, 8)}`
  await createStatus({
    status_id: stalled,
    kind,
    status: 'processing',
    heartbeat_timeout_s: 1,
    deadline_at: deadline,
  })
  const healthy = `healthy-${randomUUID().slice(0, 8)}`
  await createStatus({ status_id: healthy, kind, status: 'processing', heartbeat_timeout_s: 3600 })
  // Past its one second, judged when the page renders it.
  await new Promise((resolve) => setTimeout(resolve, 1100))
  await signIn()
  await filterByKind(kind)
  await row(healthy).waitFor()
  expect(await row(stalled).locator('[data-liveness="stalled"]').textContent()).toBe('Stalled')
  expect(await row(healthy).locator('[data-liveness]').count()).toBe(0)

  await row(stalled).getByRole('button', { name: stalled }).click()
  const drawer = page.getByRole('dialog', { name: stalled })
  await drawer.waitFor()
  expect(await drawer.locator('[data-liveness="stalled"]').count()).toBe(1)
  expect(await drawer.locator('[data-field="deadline_at"]').textContent()).not.toBe('—')
  expect(await drawer.locator('[data-field="heartbeat"]').textContent()).toContain('every 1 s at most')
})

test('when a status with log lines is opened, then the drawer shows its kept lines and new ones as they are appended', async () => {
  const kind = uniqueKind('logged')
  const id = `logged-${randomUUID().slice(0, 8)}`
  await createStatus({ status_id: id, kind, status: 'processing' })
  await call('POST', `/api/status/${id}/logs`, {
    lines: [
      { message: 'downloading source' },
      { message: 'disk almost full', level: 'warn', fields: { free_mb: 12 } },
    ],
  })
  await signIn()
  await filterByKind(kind)
  await row(id).getByRole('button', { name: id }).click()
  const drawer = page.getByRole('dialog', { name: id })
  const log = drawer.getByTestId('log')
  await log.locator('li').nth(1).waitFor()
  expect(await log.locator('li[data-level="warn"]').textContent()).toContain('disk almost full')
  await call('POST', `/api/status/${id}/logs`, { lines: [{ message: 'encoding 1080p', level: 'info' }] })
  await log.locator('li', { hasText: 'encoding 1080p' }).waitFor()
  expect(await log.locator('li').count()).toBe(3)
})

test('when a parent has children, then its row and drawer show their roll-up and the drawer lists them, all live; a child opens in the drawer and links back', async () => {
  const kind = uniqueKind('group')
  const parent = `${kind}-parent`
  const [first, second, third] = [1, 2, 3].map((n) => `${parent}.${n}`)
  await createStatus({ status_id: parent, kind, complete_with_children: true })
  // The children are of another kind: the table's filter does not select them, the drawer's does.
  await createStatus({ status_id: first, kind: 'group.part', parent_id: parent, weight: 3 })
  await createStatus({ status_id: second, kind: 'group.part', parent_id: parent })
  await signIn()
  await filterByKind(kind)
  await until(
    async () =>
      JSON.stringify(
        await page.locator('tbody tr[data-row]').evaluateAll((rows) => rows.map((r) => r.dataset.row)),
      ) === JSON.stringify([parent]),
    'the table shows the parent alone',
  )
  const rowRollup = row(parent).getByTestId('rollup')
  await rowRollup.and(page.locator('[data-total="2"]')).waitFor()
  expect(await rowRollup.locator('.segment[data-status="pending"]').getAttribute('data-count')).toBe('2')

  // Weighted: (3 × 40 + 1 × 0) / 4.
  await updateStatus(first, { new_status: 'processing', progress_percentage: 40 })
  await rowRollup.and(page.locator('[data-progress="30"]')).waitFor()
  expect(await rowRollup.locator('.summary').textContent()).toBe('30% · 0/2 done')
  expect(await rowRollup.getByRole('img').getAttribute('aria-label')).toBe(
    `Children of ${parent} by state: 1 processing, 1 pending`,
  )
  expect(await rowRollup.getAttribute('title')).toContain('2 children, 0 done')
  await screenshot(page, 'row-rollup')

  await row(parent).getByRole('button', { name: parent }).click()
  const drawer = page.getByRole('dialog', { name: parent })
  const children = drawer.getByTestId('children')
  const child = (id: string) => children.locator(`li[data-child="${id}"]`)
  await child(second).waitFor()
  expect(
    await children.locator('li[data-child]').evaluateAll((items) => items.map((li) => li.dataset.child)),
  ).toEqual([first, second])
  expect(await child(first).getAttribute('data-state')).toBe('processing')
  expect(await children.getByTestId('children-count').textContent()).toBe('Showing 2 of 2')
  expect(await drawer.locator('[data-field="group-rules"]').textContent()).toContain('finishes when all')

  // Live, through the drawer's subscription to the parent's children.
  await createStatus({ status_id: third, kind: 'group.part', parent_id: parent })
  await child(third).waitFor()
  await updateStatus(second, { new_status: 'processing' })
  await updateStatus(second, { new_status: 'completed' })
  await child(second).and(page.locator('[data-state="completed"]')).waitFor()
  const drawerRollup = children.getByTestId('rollup')
  await drawerRollup.and(page.locator('[data-total="3"][data-done="1"]')).waitFor()
  // (3 × 40 + 100 + 0) / 5
  expect(await drawerRollup.getAttribute('data-progress')).toBe('44')
  await children.getByTestId('children-count').filter({ hasText: 'Showing 3 of 3' }).waitFor()
  await rowRollup.and(page.locator('[data-total="3"][data-done="1"]')).waitFor()
  await screenshot(page, 'drawer-children')

  // A child opens in the drawer, follows its own changes, and links back to its parent.
  await child(first).getByRole('button', { name: first }).click()
  const childDrawer = page.getByRole('dialog', { name: first })
  await childDrawer.waitFor()
  expect(await page.evaluate('document.activeElement?.id')).toBe('drawer-title')
  expect(await childDrawer.locator('[data-field="parent"]').textContent()).toBe(`${parent} · weight 3`)
  await updateStatus(first, { progress_percentage: 80 })
  await childDrawer
    .locator(`[role="progressbar"][aria-label="Progress of ${first}"][aria-valuenow="80"]`)
    .waitFor()

  await childDrawer.locator('[data-field="parent"]').getByRole('button', { name: parent }).click()
  await drawer.waitFor()
  await child(first).locator('[role="progressbar"][aria-valuenow="80"]').waitFor()

  await page.keyboard.press('Escape')
  await drawer.waitFor({ state: 'hidden' })
  expect(await page.evaluate('document.activeElement?.dataset?.statusId ?? null')).toBe(parent)
})

test('when more statuses match than fit a page, then Next and Previous walk the pages by cursor', async () => {
  const kind = uniqueKind('pages')
  const ids = Array.from({ length: 12 }, (_, i) => `${kind}-${String(i + 1).padStart(2, '0')}`)
  for (const id of ids) await createStatus({ status_id: id, kind })
  await signIn()
  await filterByKind(kind)
  await page.getByLabel('Sort').selectOption('status_id')
  await page.getByLabel('Per page').selectOption('10')
  const shownIds = () =>
    page.locator('tbody tr[data-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-row')))
  await until(
    async () => JSON.stringify(await shownIds()) === JSON.stringify(ids.slice(0, 10)),
    'page 1 shows the first ten',
  )
  expect(await page.getByRole('button', { name: 'Previous' }).isDisabled()).toBe(true)

  await page.getByRole('button', { name: 'Next' }).click()
  await until(
    async () => JSON.stringify(await shownIds()) === JSON.stringify(ids.slice(10)),
    'page 2 shows the last two',
  )
  expect(await page.getByText('Page 2 · 12 matching').count()).toBe(1)
  expect(await page.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true)

  await page.getByRole('button', { name: 'Previous' }).click()
  await until(
    async () => JSON.stringify(await shownIds()) === JSON.stringify(ids.slice(0, 10)),
    'back on page 1',
  )
})

/**
 * Routes the page's Socket.IO traffic (polling and websocket) through the test, so it can cut the live
 * connection and refuse new ones, and see which subscriptions were sent and acknowledged.
 */
async function interceptLiveConnection() {
  let blocked = false
  // The connection starts on HTTP polling and moves to the websocket; it is cut once it has moved.
  let upgraded: WebSocketRoute | undefined
  const subscribes: string[] = []
  // Socket.IO acks on the namespace: 43/status,<id>[answer]; polling packs packets with \x1e between.
  const acked = new Set<string>()
  const noteAcks = (payload: string) => {
    for (const packet of payload.split('\x1e')) {
      const ack = packet.match(/^43\/status,(\d+)\[\{"ok":true/)
      if (ack) acked.add(ack[1])
    }
  }
  page.on('response', async (response) => {
    if (/\/socket\.io\/.*transport=polling/.test(response.url()))
      noteAcks(await response.text().catch(() => ''))
  })
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    if (blocked) return void ws.close({ code: 1011, reason: 'blocked by the test' })
    const toServer = ws.connectToServer()
    toServer.onMessage((message) => {
      noteAcks(String(message))
      ws.send(message)
    })
    ws.onMessage((message) => {
      const text = String(message)
      if (text.includes('"subscribe"')) subscribes.push(text)
      // Engine.IO's upgrade packet: from here on the connection lives on this websocket alone.
      if (text === '5') upgraded = ws
      toServer.send(message)
    })
  })
  await page.route(/\/socket\.io\//, (route) => {
    const body = route.request().postData() ?? ''
    if (body.includes('"subscribe"')) subscribes.push(body)
    return blocked ? route.abort('connectionrefused') : route.continue()
  })
  return {
    subscribes,
    /** Waits until the connection is on the websocket and a subscription that `matches` is acknowledged. */
    async settled(matches: (subscribe: string) => boolean) {
      await until(() => upgraded !== undefined, 'the connection has moved to the websocket')
      await until(
        () =>
          subscribes.some((m) => {
            const id = m.match(/^42\/status,(\d+)\[/)?.[1]
            return matches(m) && id !== undefined && acked.has(id)
          }),
        'the subscription is acknowledged',
      )
    },
    /** Cuts the websocket and refuses new connections until `restore`; waits for the page to notice. */
    async cut() {
      blocked = true
      await upgraded!.close({ code: 1001, reason: 'dropped by the test' })
      await liveIndicator().and(page.locator(':not([data-state="live"])')).waitFor()
    },
    restore: () => (blocked = false),
  }
}

test('when the live connection drops and comes back, then the dashboard resubscribes from the last seq and shows what it missed', async () => {
  const live = await interceptLiveConnection()
  const kind = uniqueKind('reconnect')
  const id = `${kind}-1`
  await createStatus({ status_id: id, kind })
  await signIn()
  await filterByKind(kind)
  await row(id).and(page.locator('[data-state="pending"]')).waitFor()
  // The subscription for the kind filter is in place (its ack came back over the websocket).
  await live.settled((subscribe) => subscribe.includes(kind))

  await live.cut()
  const subscribesBefore = live.subscribes.length
  await updateStatus(id, {
    new_status: 'processing',
    progress_percentage: 60,
    message: 'missed while offline',
  })
  expect(await row(id).getAttribute('data-state')).toBe('pending')
  live.restore()

  await liveIndicator().and(page.locator('[data-state="live"]')).waitFor()
  await row(id).and(page.locator('[data-state="processing"]')).waitFor()
  expect(await row(id).locator('[role="progressbar"]').getAttribute('aria-valuenow')).toBe('60')
  const resubscribe = live.subscribes.slice(subscribesBefore).at(-1) ?? ''
  expect(resubscribe).toMatch(/"since_seq":\d+/)
})

test('when what was missed offline can no longer be replayed, then the dashboard takes a fresh snapshot and shows it', async () => {
  // A tenant of its own, whose events the test purges as retention would.
  const key = await keyForNewTenant('resync')
  const live = await interceptLiveConnection()
  await call('POST', '/api/status', { status_id: 'resync-1', kind: 'resync.test' }, key)
  await signIn(key)
  await row('resync-1').and(page.locator('[data-state="pending"]')).waitFor()
  await live.settled(() => true)

  await live.cut()
  const subscribesBefore = live.subscribes.length
  await call('PUT', '/api/status/resync-1', { new_status: 'processing', progress_percentage: 30 }, key)
  await call('POST', '/api/status', { status_id: 'resync-2', kind: 'resync.test' }, key)
  const purged = new Database(database.file)
  purged.prepare('DELETE FROM status_events WHERE tenant_id = ?').run('resync')
  purged.close()
  live.restore()

  // Only a fresh snapshot can bring these: none of their events is left to replay.
  await row('resync-2').and(page.locator('[data-state="pending"]')).waitFor()
  await row('resync-1').and(page.locator('[data-state="processing"]')).waitFor()
  await liveIndicator().and(page.locator('[data-state="live"]')).waitFor()
  const after = live.subscribes.slice(subscribesBefore)
  expect(after[0]).toMatch(/"since_seq":\d+/)
  expect(after.at(-1)).not.toMatch(/since_seq/)

  // And it is live again from there.
  await call('PUT', '/api/status/resync-2', { new_status: 'processing' }, key)
  await row('resync-2').and(page.locator('[data-state="processing"]')).waitFor()
})

test('when the page is reloaded the key is kept for the tab, and signing out forgets it', async () => {
  await signIn()
  await page.reload()
  await liveIndicator().and(page.locator('[data-state="live"]')).waitFor()

  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByLabel('API key').waitFor()
  expect(await page.evaluate('sessionStorage.length')).toBe(0)
  await page.reload()
  await page.getByLabel('API key').waitFor()
})

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[]
}

test('when axe-core checks the sign-in form, the dashboard and the open drawer, then it finds no serious or critical violation', async () => {
  const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
  const serious = async () => {
    // evaluate() runs outside the page's content security policy, which forbids inline scripts.
    await page.evaluate(`${axeSource};0`)
    const result = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as AxeResult
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`)
  }
  const id = `axe-${randomUUID().slice(0, 8)}`
  await createStatus({ status_id: id, kind: uniqueKind('axe'), tags: ['a11y'] })
  await call('POST', `/api/status/${id}/errors`, { error_info: 'disk full', should_retry: false })
  const parent = `axe-parent-${randomUUID().slice(0, 8)}`
  await createStatus({ status_id: parent, kind: uniqueKind('axe') })
  await createStatus({ status_id: `${parent}.1`, parent_id: parent, status: 'processing' })

  await page.goto(`${server.baseUrl}/`)
  await page.getByLabel('API key').waitFor()
  expect(await serious()).toEqual([])

  await signIn()
  await row(id).waitFor()
  expect(await serious()).toEqual([])

  await page.locator(`[data-status-id="${id}"]`).click()
  await page.getByRole('dialog').locator('li[data-event-type="status.error"]').waitFor()
  expect(await serious()).toEqual([])

  // A parent: the roll-up in its row, and the drawer's list of its children.
  await page.keyboard.press('Escape')
  await row(parent).getByTestId('rollup').waitFor()
  await row(parent).getByRole('button', { name: parent }).click()
  await page.getByRole('dialog').locator(`li[data-child="${parent}.1"]`).waitFor()
  expect(await serious()).toEqual([])
})

test('a tenant with work in every state, as the README shows it', async () => {
  // A tenant of its own, so the picture holds only these statuses.
  const demoKey = await keyForNewTenant('demo')
  const demo = (method: string, path: string, body?: unknown) => call(method, path, body, demoKey)
  const jobs: [string, string, Record<string, unknown>[]][] = [
    [
      'video-1042',
      'video.transcode',
      [{ new_status: 'processing', steps_completed: 5, steps_total: 8, message: 'encoding 1080p' }],
    ],
    [
      'import-2026-11-22',
      'csv.import',
      [{ new_status: 'processing', progress_percentage: 82.5, message: 'row 41,250 of 50,000' }],
    ],
    [
      'report-q3-revenue',
      'report.build',
      [{ new_status: 'processing' }, { new_status: 'completed', message: 'report.pdf ready' }],
    ],
    ['video-1041', 'video.transcode', [{ new_status: 'starting', message: 'fetching source' }]],
    ['thumbs-77', 'image.resize', []],
    ['backup-nightly', 'db.backup', [{ new_status: 'processing', progress_percentage: 35 }]],
    ['email-digest', 'mail.send', [{ new_status: 'cancelled' }]],
    ['sync-crm', 'crm.sync', [{ new_status: 'processing', progress_percentage: 10 }]],
  ]
  for (const [id, kind, updates] of jobs) {
    await demo('POST', '/api/status', {
      status_id: id,
      kind,
      priority: id.startsWith('backup') ? 'high' : 'normal',
      tags: ['demo'],
    })
    for (const update of updates) await demo('PUT', `/api/status/${id}`, update)
  }
  await demo('POST', '/api/status/backup-nightly/errors', {
    error_info: { message: 'disk full', code: 'ENOSPC' },
    should_retry: true,
  })
  await demo('POST', '/api/status/sync-crm/errors', {
    error_info: { message: 'CRM answered 500', code: 'UPSTREAM' },
    should_retry: false,
  })

  await signIn(demoKey)
  await until(
    async () => (await page.locator('tbody tr[data-row]').count()) === jobs.length,
    'every demo status is shown',
  )
  for (const state of STATUS_VALUES) {
    expect(await page.locator(`tbody tr[data-state="${state}"]`).count()).toBeGreaterThan(0)
  }
  await screenshot(page, 'dashboard')
})
