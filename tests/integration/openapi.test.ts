import pino from 'pino'
import type { Response } from 'supertest'
import { createApp } from '../../src/app'
import { PROBLEMS, type ProblemCode } from '../../src/errors'
import { buildOpenApiDocument } from '../../src/http/openapi'
import { makeStatus } from '../helpers/factories'
import {
  danglingRefs,
  documentedOperations,
  HTTP_METHODS,
  mountedOperations,
  responseChecker,
  validateOpenApi,
  type OpenApiDocument,
} from '../helpers/openapi'
import { expectProblem, freshTenantApi, statusApi } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import { until } from '../helpers/wait'
import { webhookApi } from '../helpers/webhook-api'
import { startReceiver, type Receiver } from '../helpers/webhook-receiver'

jest.setTimeout(60_000)

let t: TestApp
let doc: OpenApiDocument
let check: ReturnType<typeof responseChecker>

beforeAll(async () => {
  t = await buildTestApp({ webhooks: { pollMs: 20 } })
  doc = (await t.request.get('/openapi.json')).body as OpenApiDocument
  check = responseChecker(doc)
})
afterAll(() => t.close())

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T
const missingFrom = (have: string[], from: string[]) => have.filter((op) => !from.includes(op)).sort()

describe('GET /openapi.json', () => {
  test('when asked without a key, then 200 with the OpenAPI 3.1 document built from the zod schemas', async () => {
    const res = await t.request.get('/openapi.json')

    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.body).toEqual(copy(buildOpenApiDocument()))
    expect(res.body.openapi).toBe('3.1.0')
    expect(res.body['x-socket-io']).toMatchObject({ namespace: '/status' })
  })

  test('then it is valid OpenAPI 3.1, and the validator does reject a broken copy', async () => {
    const broken = copy(doc)
    ;(broken.paths['/api/status'] as Record<string, unknown>).get = { parameters: [{ in: 'body' }] }

    const [good, bad] = await Promise.all([validateOpenApi(doc), validateOpenApi(broken)])

    expect(good).toEqual({ valid: true })
    expect(bad.valid).toBe(false)
  })

  test('then every $ref points at something in the document', () => {
    const broken = copy(doc)
    broken.paths['/health']!.get = { responses: { '200': { $ref: '#/components/responses/Nope' } } }

    expect(danglingRefs(doc)).toEqual([])
    expect(danglingRefs(broken)).toEqual(['#/components/responses/Nope'])
  })

  test('then each operation declares exactly the path parameters its path has, and a unique operationId', () => {
    const ids: string[] = []
    for (const [route, item] of Object.entries(doc.paths)) {
      const placeholders = [...route.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
      for (const method of HTTP_METHODS.filter((m) => m in item)) {
        const op = item[method] as { operationId: string; parameters?: { in: string; name: string }[] }
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name)
        expect({ op: `${method} ${route}`, path: declared.sort() }).toEqual({
          op: `${method} ${route}`,
          path: placeholders,
        })
        ids.push(op.operationId)
      }
    }
    expect(new Set(ids).size).toBe(ids.length)
  })
})

// The routes are introspected from the app itself (Express 5's router lists what was registered on it)
// rather than registered through a shared table: the routers stay plain Express, and the test compares
// what is mounted with what is documented in both directions.
describe('problem codes', () => {
  // Not under any operation: an unknown route has none, a 500 is a bug rather than an answer, and the
  // socket's refusal is in its ack (the socket protocol's description).
  const UNDOCUMENTED: ProblemCode[] = ['route-not-found', 'internal-error', 'too-many-subscriptions']

  test('every code of the registry is described in the document, under a response of its own status', () => {
    const described = new Map<string, Set<string>>()
    const responses = { ...(doc.components?.responses ?? {}) } as Record<string, { description?: string }>
    for (const path of Object.values(doc.paths ?? {}))
      for (const op of Object.values(path as Record<string, { responses?: Record<string, unknown> }>))
        for (const [status, answer] of Object.entries(op.responses ?? {})) {
          const ref = (answer as { $ref?: string }).$ref
          const text = ref
            ? responses[ref.split('/').at(-1)!]?.description
            : (answer as { description?: string }).description
          for (const [, code] of (text ?? '').matchAll(/`([a-z-]+)`: /g)) {
            described.set(code!, (described.get(code!) ?? new Set()).add(status))
          }
        }
    const codes = Object.keys(PROBLEMS) as ProblemCode[]
    expect(codes.filter((code) => !UNDOCUMENTED.includes(code) && !described.has(code))).toEqual([])
    for (const [code, statuses] of described)
      expect({ code, statuses: [...statuses] }).toEqual({
        code,
        statuses: [String(PROBLEMS[code as ProblemCode].status)],
      })
  })
})

describe('the routes the app mounts and the operations the document describes', () => {
  test('when the app is built, then every mounted route is documented', () => {
    expect(missingFrom(mountedOperations(t.app.express), documentedOperations(doc))).toEqual([])
  })

  test('when the app is built, then every documented operation is mounted', () => {
    const mounted = mountedOperations(t.app.express)

    expect(missingFrom(documentedOperations(doc), mounted)).toEqual([])
    expect(mounted).toEqual(expect.arrayContaining(['PUT /api/status/{id}', 'GET /health', 'GET /docs']))
  })

  test('when a route is mounted without documentation, or documented without a route, then the comparison names it', () => {
    const app = createApp({
      services: t.services,
      logger: pino({ level: 'silent' }),
      rateLimit: { rps: 1000, burst: 2000 },
      checkReady: async () => {},
    })
    app.express.patch('/api/status/:id/undocumented', (_req, res) => {
      res.end()
    })
    const ghost = copy(doc)
    ghost.paths['/api/ghosts/{id}'] = { get: { responses: {} } }

    expect(missingFrom(mountedOperations(app.express), documentedOperations(doc))).toEqual([
      'PATCH /api/status/{id}/undocumented',
    ])
    expect(missingFrom(documentedOperations(ghost), mountedOperations(app.express))).toEqual([
      'GET /api/ghosts/{id}',
    ])
  })
})

describe('real answers match the documented responses', () => {
  test('when a status is created, read, updated, errored, cancelled and deleted, then each answer is as documented', async () => {
    const api = statusApi(t, t.adminKey)
    const doc_ = (res: Response, method: string, route: string) => check.expectDocumented(res, method, route)

    const created = await api.create(makeStatus({ steps_total: 8, tags: ['openapi'], metadata: { a: 1 } }), {
      'Idempotency-Key': `openapi-${Date.now()}`,
    })
    doc_(created, 'post', '/api/status')
    expect(created.status).toBe(201)
    const id = created.body.status_id as string

    const read = await api.get(id)
    doc_(read, 'get', '/api/status/{id}')
    const notModified = await api.get(id, { 'If-None-Match': read.headers.etag! })
    expect(notModified.status).toBe(304)
    doc_(notModified, 'get', '/api/status/{id}')

    const updated = await api.update(
      id,
      { new_status: 'processing', steps_completed: 3 },
      { 'If-Match': '"1"' },
    )
    expect(updated.body).toMatchObject({ applied: true, progress_percentage: 37.5 })
    doc_(updated, 'put', '/api/status/{id}')

    const errored = await api.recordError(id, {
      error_info: { message: 'encoder crashed', code: 'ENC', details: { exit: 137 } },
      should_retry: true,
    })
    expect(errored.body).toMatchObject({ status: 'retry_pending', error_info: { code: 'ENC' } })
    doc_(errored, 'post', '/api/status/{id}/errors')

    const cancelled = await api.cancel(id)
    expect(cancelled.body.status).toBe('cancelled')
    doc_(cancelled, 'post', '/api/status/{id}/cancel')

    const removed = await api.remove(id)
    expect(removed.status).toBe(204)
    doc_(removed, 'delete', '/api/status/{id}')

    const history = await api.history(id)
    expect(history.body.items.map((e: { type: string }) => e.type)).toEqual([
      'status.created',
      'status.updated',
      'status.error',
      'status.cancelled',
      'status.deleted',
    ])
    doc_(history, 'get', '/api/status/{id}/history')
  })

  test('when statuses are listed, counted, paged through events and batched, then each answer is as documented', async () => {
    const api = await freshTenantApi(t, 'openapi')
    const a = await api.createOk({ priority: 'high' })
    const b = await api.createOk()

    const list = await api.list('priority=high,normal&sort=created_at&limit=1&include_total=true')
    expect(list.body).toMatchObject({ total: 2, has_more: true, next_cursor: expect.any(String) })
    check.expectDocumented(list, 'get', '/api/status')

    const events = await api.events({ after_seq: 0, limit: 10 })
    expect(events.body.items).toHaveLength(2)
    check.expectDocumented(events, 'get', '/api/events')

    const stats = await api.stats()
    expect(stats.body.total).toBe(2)
    check.expectDocumented(stats, 'get', '/api/stats')

    const auth = bearer(api.key)
    const queued = await t.request
      .post('/api/status/batch')
      .set(auth)
      .send({
        updates: [
          { status_id: a.status_id, progress_percentage: 5 },
          { status_id: 'nope', message: 'x' },
          {},
        ],
      })
    expect(queued.status).toBe(202)
    expect(queued.body.rejected.map((r: { index: number }) => r.index)).toEqual([1, 2])
    check.expectDocumented(queued, 'post', '/api/status/batch')

    const committed = await t.request
      .post('/api/status/batch?wait=true')
      .set(auth)
      .send({
        updates: [
          { status_id: b.status_id, new_status: 'processing' },
          { status_id: a.status_id, new_status: 'completed' },
        ],
      })
    expect(committed.status).toBe(200)
    expect(committed.body.results).toHaveLength(2)
    check.expectDocumented(committed, 'post', '/api/status/batch')

    const bulk = await t.request.post('/api/status/cancel?status=processing').set(auth)
    expect(bulk.body).toEqual({ cancelled: 1 })
    check.expectDocumented(bulk, 'post', '/api/status/cancel')
  })

  test('when requests are refused, then each problem answer is as documented', async () => {
    const api = statusApi(t, t.adminKey)
    const done = await api.createOk({ status: 'completed' })
    const readOnly = statusApi(t, await t.makeKey('default', ['status:read']))

    const cases: [Response, string, string, number, string][] = [
      [await api.get('no-such-status'), 'get', '/api/status/{id}', 404, 'status-not-found'],
      [await api.create({ progress_percentage: 150 }), 'post', '/api/status', 400, 'validation-failed'],
      [await api.list('cursor=tampered'), 'get', '/api/status', 400, 'invalid-cursor'],
      [
        await api.update(done.status_id, { new_status: 'processing' }),
        'put',
        '/api/status/{id}',
        409,
        'invalid-transition',
      ],
      [
        await api.update(done.status_id, { tags: ['x'] }, { 'If-Match': '"9"' }),
        'put',
        '/api/status/{id}',
        412,
        'version-mismatch',
      ],
      [await t.request.get('/api/stats'), 'get', '/api/stats', 401, 'unauthenticated'],
      [await readOnly.create(makeStatus()), 'post', '/api/status', 403, 'insufficient-scope'],
      [
        await t.request.post('/api/status/cancel').set(bearer(t.adminKey)),
        'post',
        '/api/status/cancel',
        400,
        'filter-required',
      ],
      [await api.events({ after_seq: 'x' }), 'get', '/api/events', 400, 'validation-failed'],
    ]

    for (const [res, method, route, status, code] of cases) {
      expectProblem(res, status, code)
      check.expectDocumented(res, method, route)
    }
    expect(cases[0]![0].body.errors).toBeUndefined()
    expect(cases[1]![0].body.errors).toEqual([expect.objectContaining({ path: 'progress_percentage' })])
  })

  test('when keys and the public routes are used, then each answer is as documented', async () => {
    const auth = bearer(t.adminKey)

    const created = await t.request
      .post('/api/keys')
      .set(auth)
      .send({ scopes: ['status:read'] })
    expect(created.status).toBe(201)
    check.expectDocumented(created, 'post', '/api/keys')
    check.expectDocumented(await t.request.get('/api/keys').set(auth), 'get', '/api/keys')
    const revoked = await t.request.delete(`/api/keys/${created.body.id}`).set(auth)
    expect(revoked.status).toBe(204)
    check.expectDocumented(revoked, 'delete', '/api/keys/{id}')
    const again = await t.request.delete(`/api/keys/${created.body.id}`).set(auth)
    expectProblem(again, 404, 'not-found')
    check.expectDocumented(again, 'delete', '/api/keys/{id}')

    for (const route of ['/health', '/ready', '/metrics', '/openapi.json', '/docs']) {
      const res = await t.request.get(route)
      expect({ route, status: res.status }).toEqual({ route, status: 200 })
      check.expectDocumented(res, 'get', route)
    }
  })

  describe('webhooks', () => {
    let receiver: Receiver
    beforeAll(async () => {
      receiver = await startReceiver(() => 200)
    })
    afterAll(() => receiver.close())

    test('when a webhook is made, sends an event and a delivery is retried, then answers and the POST it sends are as documented', async () => {
      const key = await t.makeKey(`openapi-hooks-${Date.now()}`, ['admin'])
      const hooks = webhookApi(t, key)
      const api = statusApi(t, key)

      const created = await hooks.create({ url: receiver.url, events: ['status.created'] })
      check.expectDocumented(created, 'post', '/api/webhooks')
      const id = created.body.id as string
      check.expectDocumented(await hooks.list(), 'get', '/api/webhooks')
      check.expectDocumented(await hooks.get(id), 'get', '/api/webhooks/{id}')

      const status = await api.createOk()
      await until(async () => (await hooks.allDeliveries(id, 'delivered')).length === 1, 'delivered')
      const sent = receiver.received.find((r) => r.event.status_id === status.status_id)!
      check.expectMatches(
        '#/webhooks/statusEvent/post/requestBody/content/application~1json/schema',
        JSON.parse(sent.raw.toString('utf8')),
        'the webhook POST body',
      )
      const headers = (doc.webhooks!.statusEvent!.post as { parameters: { in: string; name: string }[] })
        .parameters
      for (const header of headers.filter((p) => p.in === 'header')) {
        expect({ header: header.name, sent: sent.headers[header.name.toLowerCase()] }).toEqual({
          header: header.name,
          sent: expect.any(String),
        })
      }

      const deliveries = await hooks.deliveries(id)
      check.expectDocumented(deliveries, 'get', '/api/webhooks/{id}/deliveries')
      const retried = await hooks.retry(id, deliveries.body.items[0].id)
      expect(retried.status).toBe(202)
      check.expectDocumented(retried, 'post', '/api/webhooks/{id}/deliveries/{delivery_id}/retry')

      const removed = await hooks.remove(id)
      check.expectDocumented(removed, 'delete', '/api/webhooks/{id}')
      const gone = await hooks.get(id)
      expectProblem(gone, 404, 'webhook-not-found')
      check.expectDocumented(gone, 'get', '/api/webhooks/{id}')
    })
  })

  test('when an answer differs from the document, then the check fails naming it', async () => {
    const res = await statusApi(t, t.adminKey).create(makeStatus())
    const altered = { ...res, body: { ...res.body, surprise: true } } as Response

    expect(() => check.expectDocumented(altered, 'post', '/api/status')).toThrow(
      /does not match the document/,
    )
    expect(() => check.expectDocumented({ ...res, status: 418 } as Response, 'post', '/api/status')).toThrow(
      /does not document a 418/,
    )
  })
})

describe('GET /docs', () => {
  test('when asked without a key, then an HTML page whose scripts and styles all come from this server', async () => {
    const page = await t.request.get('/docs')

    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.headers['content-security-policy']).toContain("default-src 'self'")
    expect(page.headers['content-security-policy']).not.toMatch(/https?:/)
    const refs = [...page.text.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(refs).toEqual(expect.arrayContaining(['/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css']))
    expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    for (const ref of refs) {
      expect(ref).toMatch(/^\/(?!\/)/)
      const asset = await t.request.get(ref)
      expect({ ref, status: asset.status }).toEqual({ ref, status: 200 })
      expect(Number(asset.headers['content-length'])).toBeGreaterThan(0)
    }
  })

  test('when the page starts, then it loads the document from /openapi.json with the online validator off', async () => {
    const init = await t.request.get('/docs/init.js')
    const bundle = await t.request.get('/docs/swagger-ui-bundle.js')

    expect(init.status).toBe(200)
    expect(init.headers['content-type']).toMatch(/javascript/)
    expect(init.text).toContain("url: '/openapi.json'")
    expect(init.text).toContain('validatorUrl: null')
    expect(bundle.status).toBe(200)
    expect(bundle.headers['content-type']).toMatch(/javascript/)
    expect(bundle.text).toContain('SwaggerUIBundle')
  })

  test('when a file of the package the page does not use, or a POST to an asset, is asked for, then 404', async () => {
    const demo = await t.request.get('/docs/index.html')
    const initializer = await t.request.get('/docs/swagger-initializer.js')
    const posted = await t.request.post('/docs/swagger-ui.css').send({})

    expectProblem(demo, 404, 'route-not-found')
    expectProblem(initializer, 404, 'route-not-found')
    expectProblem(posted, 404, 'route-not-found')
  })
})
