import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import express from 'express'
import supertest from 'supertest'
import { errorHandler, notFoundHandler } from '../../src/http/error-handler'
import { dashboardRoutes, defaultDashboardDir } from '../../src/http/routes/dashboard'
import { projectRoot } from '../helpers/server-process'
import { buildTestApp, type TestApp } from '../helpers/test-app'

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

function appServing(dir: string) {
  return supertest(express().use(dashboardRoutes(dir)).use(notFoundHandler).use(errorHandler))
}

function builtDashboard(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'status-tracker-dashboard-'))
  dirs.push(dir)
  mkdirSync(path.join(dir, 'assets'))
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Status Tracker</title>')
  writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'console.log(1)')
  return dir
}

test('when the dashboard is built, then / serves its page under a same-origin content policy', async () => {
  const res = await appServing(builtDashboard()).get('/')

  expect(res.status).toBe(200)
  expect(res.type).toBe('text/html')
  expect(res.text).toContain('<title>Status Tracker</title>')
  expect(res.headers['content-security-policy']).toContain("default-src 'self'")
  expect(res.headers['cache-control']).toBe('no-cache')
})

test('when an asset is asked for, then it is served to be cached for good', async () => {
  const res = await appServing(builtDashboard()).get('/assets/index-abc123.js')

  expect(res.status).toBe(200)
  expect(res.text).toBe('console.log(1)')
  expect(res.headers['cache-control']).toContain('immutable')
})

test('when an asset does not exist, then it is the usual 404 problem', async () => {
  const res = await appServing(builtDashboard()).get('/assets/missing.js')

  expect(res.status).toBe(404)
  expect(res.body).toMatchObject({ code: 'route-not-found' })
})

test('when the dashboard was never built, then / says to run npm run build instead of failing', async () => {
  const res = await appServing(path.join(tmpdir(), 'status-tracker-no-such-dashboard')).get('/')

  expect(res.status).toBe(503)
  expect(res.type).toBe('text/html')
  expect(res.text).toContain('npm run build')
})

test('the default build folder is dist/dashboard under the project root', () => {
  expect(defaultDashboardDir()).toBe(path.join(projectRoot, 'dist', 'dashboard'))
})

describe('in the service', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp()
  })
  afterAll(() => t.close())

  test('when / is opened without a key, then the page (or the build hint) answers and the API still needs a key', async () => {
    const page = await t.request.get('/')
    const api = await t.request.get('/api/status')

    // Whether dist/dashboard exists depends on whether this checkout was built.
    expect([200, 503]).toContain(page.status)
    expect(page.type).toBe('text/html')
    expect(api.status).toBe(401)
  })
})
