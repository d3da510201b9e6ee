import { dirname } from 'node:path'
import express, { Router, type RequestHandler } from 'express'
import { z } from 'zod'
import { mount, operations } from '../operation'
import { buildOpenApiDocument } from '../openapi'

// Swagger UI from the swagger-ui-dist package, served by this process so the page works offline.
// Only the files the page uses are served: the package also holds a demo index.html pointing at a
// remote example API, which has no business on our origin.
const SWAGGER_UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'))
const SWAGGER_UI_FILES = new Set([
  'swagger-ui.css',
  'swagger-ui.css.map',
  'swagger-ui-bundle.js',
  'swagger-ui-bundle.js.map',
  'favicon-32x32.png',
  'favicon-16x16.png',
])

// A file rather than an inline script, so the page runs under a CSP without 'unsafe-inline' scripts.
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
})
`

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Status Tracker API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`

// Everything from our own origin; Swagger UI sets style attributes and uses data: images in its CSS.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')

const withCsp: RequestHandler = (_req, res, next) => {
  res.set('Content-Security-Policy', CSP)
  next()
}

export const docsOperations = operations({
  openapi: {
    method: 'get',
    path: '/openapi.json',
    scope: null,
    tag: 'Documentation',
    summary: 'This document',
    responses: {
      '200': {
        description: 'OpenAPI 3.1',
        content: { 'application/json': { schema: { type: 'object' } } },
      },
    },
  },
  docs: {
    method: 'get',
    path: '/docs',
    scope: null,
    tag: 'Documentation',
    summary: 'Interactive documentation of this document (Swagger UI, served locally)',
    responses: { '200': { description: 'An HTML page', content: { 'text/html': { schema: z.string() } } } },
  },
})

/** `GET /openapi.json`, and `GET /docs` with its assets: public, like the health routes. */
export function docsRoutes() {
  let document: ReturnType<typeof buildOpenApiDocument> | undefined
  const router = mount(Router(), '', docsOperations, {
    openapi: (_input, _req, res) => {
      document ??= buildOpenApiDocument()
      res.json(document)
    },
    docs: (_input, _req, res) => {
      res.set('Content-Security-Policy', CSP).type('html').send(PAGE)
    },
  })

  const files = express.static(SWAGGER_UI_DIR, { index: false, redirect: false })
  router.use('/docs', withCsp, (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next()
    const name = req.path.slice(1)
    if (name === 'init.js') {
      res.type('js').send(INIT_SCRIPT)
      return
    }
    if (SWAGGER_UI_FILES.has(name)) return files(req, res, next)
    next()
  })

  return router
}
