import { existsSync } from 'node:fs'
import path from 'node:path'
import express, { Router, type Request, type Response } from 'express'
import { z } from 'zod'
import { mount, operations, type Operation } from '../operation'

/** The nearest folder above `from` holding package.json: the project root from src/ and from dist/src/. */
function projectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir
    if (path.dirname(dir) === dir) return path.resolve(from, '../..')
  }
}

export const defaultDashboardDir = () => path.join(projectRoot(__dirname), 'dist', 'dashboard')

// The page loads only its own files and talks only to this origin (REST and the Socket.IO websocket).
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')

const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Status Tracker</title></head>
<body><h1>The dashboard is not built</h1>
<p>Run <code>npm run build</code> (or <code>npm install</code>) and reload this page. The API under
<code>/api</code> works without it.</p></body></html>
`

const page = (path: string): Operation => ({
  method: 'get',
  path,
  scope: null,
  tag: 'Dashboard',
  summary: 'The dashboard: asks for an API key, then lists and follows statuses live',
  responses: {
    '200': { description: 'An HTML page', content: { 'text/html': { schema: z.string() } } },
    '503': {
      description: 'The dashboard is not built: a page saying to run `npm run build`',
      content: { 'text/html': { schema: z.string() } },
    },
  },
})

export const dashboardOperations = operations({ dashboard: page('/'), dashboardIndex: page('/index.html') })

/**
 * The dashboard's static files at `/` (built by Vite into `dir`). Public: the page asks for an API key
 * and sends it with each request itself. A missing build answers a page saying how to build it.
 */
export function dashboardRoutes(dir = defaultDashboardDir()) {
  const index = path.join(dir, 'index.html')
  const sendIndex = (_input: unknown, _req: Request, res: Response) => {
    res.set({ 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'Cache-Control': 'no-cache' })
    // Looked up on each request, so building while the service runs needs no restart.
    if (!existsSync(index)) {
      res.status(503).type('html').send(notBuilt)
      return
    }
    res.sendFile(index)
  }
  const router = mount(Router(), '', dashboardOperations, { dashboard: sendIndex, dashboardIndex: sendIndex })

  // Vite names assets by content hash, so they may be cached for good.
  router.use(
    '/assets',
    express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false }),
  )
  return router
}
