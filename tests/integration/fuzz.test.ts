import fc from 'fast-check'
import type { Response } from 'supertest'
import { STATUS_VALUES } from '../../src/domain/transitions'
import { buildOpenApiDocument } from '../../src/http/openapi'
import { SORT_KEYS } from '../../src/services/status-filter-service'
import {
  encodeSegment,
  fuzzParameters,
  invalidQueryValue,
  invalidSegment,
  invalidValueFor,
  nestedJson,
  operationsOf,
  schemaValidator,
  withLoneSurrogate,
  withNul,
  withOwnKey,
  type Operation,
  type Parameter,
} from '../helpers/fuzz-inputs'
import { responseChecker, type OpenApiDocument } from '../helpers/openapi'
import { arbitraryFor, metadataValue, oddText, type JsonSchema } from '../helpers/schema-arbitrary'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'
import { freshTenantName } from '../helpers/tenants'

// A fuzz suite in the spirit of Schemathesis: every operation of the OpenAPI document gets random
// requests built from its own schemas. Invalid ones must be refused with a documented 4xx problem and
// change nothing; valid ones must get a documented answer whose body matches its documented schema.
// FUZZ_RUNS sets the runs per property (the runner's --fuzz-runs), FUZZ_SEED replays a failure.

const params = fuzzParameters()
jest.setTimeout(60_000 + params.numRuns * 4_000)

const doc = JSON.parse(JSON.stringify(buildOpenApiDocument())) as OpenApiDocument
const operations = operationsOf(doc)
const apiOperations = operations.filter((op) => op.route.startsWith('/api/'))
const isValid = schemaValidator(doc)

let t: TestApp
let check: ReturnType<typeof responseChecker>
beforeAll(async () => {
  t = await buildTestApp()
  check = responseChecker(doc)
})
afterAll(() => t?.close())

// ---------------------------------------------------------------------------------------------------
// Requests

/** A body too big or too deep to keep in a counterexample: described here, built when sent. */
type Body =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string; type: string; encoding?: string }
  | {
      kind: 'deep'
      base: Record<string, unknown>
      field: string | null
      depth: number
      shape: 'array' | 'object'
    }
  | { kind: 'oversized'; shape: 'string' | 'nested' }

interface FuzzRequest {
  /** What was done to the request, for the failure message. */
  mutation: string
  path: Record<string, string>
  query: [string, string][]
  headers: Record<string, string>
  body?: Body
  auth: 'admin' | 'none' | 'garbage' | 'malformed' | 'read-only' | 'status-only'
}

const DEEP = '\u0001deep\u0001'

function bodyText(body: Body): { text: string; type: string; encoding?: string } {
  switch (body.kind) {
    case 'json':
      return { text: JSON.stringify(body.value), type: 'application/json' }
    case 'text':
      return body
    case 'deep': {
      const nested = nestedJson(body.depth, body.shape)
      const text =
        body.field === null
          ? nested
          : JSON.stringify({ ...body.base, [body.field]: DEEP }).replace(JSON.stringify(DEEP), nested)
      return { text, type: 'application/json' }
    }
    case 'oversized': {
      const size = 1024 * 1024 + 4096
      const text =
        body.shape === 'string'
          ? JSON.stringify({ message: 'x'.repeat(size) })
          : nestedJson(size / 2, 'array')
      return { text, type: 'application/json' }
    }
  }
}

/** The fuzz tenant: an admin key, keys lacking scopes, and what its invalid requests must not change. */
interface Tenant {
  key: string
  readOnly: string
  statusOnly: string
  statusIds: string[]
  webhookId: string
  listCursor: string
  historyCursor: string
}

async function fuzzTenant(): Promise<Tenant> {
  const name = freshTenantName('fuzz')
  const key = await t.makeKey(name, ['admin', 'status:read', 'status:write'])
  const auth = bearer(key)
  const statusIds: string[] = []
  for (const [i, status] of (['pending', 'processing', 'completed'] as const).entries()) {
    const res = await t.request
      .post('/api/status')
      .set(auth)
      .send({ status_id: `fuzz-${i}`, status, tags: ['fuzz'], metadata: { i } })
    expect(res.status).toBe(201)
    statusIds.push(res.body.status_id as string)
  }
  expect((await t.request.put('/api/status/fuzz-1').set(auth).send({ progress_percentage: 10 })).status).toBe(
    200,
  )
  const hook = await t.request
    .post('/api/webhooks')
    .set(auth)
    .send({ url: 'http://127.0.0.1:9/hook', events: ['status.deleted'] })
  expect(hook.status).toBe(201)
  const list = await t.request.get('/api/status?limit=1').set(auth)
  const history = await t.request.get('/api/status/fuzz-1/history?limit=1').set(auth)
  return {
    key,
    readOnly: await t.makeKey(name, ['status:read']),
    statusOnly: await t.makeKey(name, ['status:read', 'status:write']),
    statusIds,
    webhookId: hook.body.id as string,
    listCursor: list.body.next_cursor as string,
    historyCursor: history.body.next_cursor as string,
  }
}

/** What no refused request may change: the feed head, every status's version, the keys and webhooks. */
async function fingerprint(tenant: Tenant) {
  const auth = bearer(tenant.key)
  const [events, statuses, keys, hooks] = await Promise.all([
    t.request.get('/api/events?limit=1000').set(auth),
    t.request.get('/api/status?limit=500&sort=status_id').set(auth),
    t.request.get('/api/keys').set(auth),
    t.request.get('/api/webhooks').set(auth),
  ])
  for (const res of [events, statuses, keys, hooks]) expect(res.status).toBe(200)
  expect(events.body.has_more).toBe(false)
  const items = events.body.items as { seq: number }[]
  return {
    head: items.at(-1)?.seq ?? 0,
    versions: (statuses.body.items as { status_id: string; version: number }[]).map(
      (s) => `${s.status_id}@${s.version}`,
    ),
    keys: (keys.body.items as { id: string }[]).map((k) => k.id).sort(),
    webhooks: (hooks.body.items as { id: string }[]).map((w) => w.id).sort(),
  }
}

const encodeQueryPart = (s: string) => encodeSegment(s)

function send(op: Operation, req: FuzzRequest, tenant: Tenant) {
  const path = op.route.replace(/\{(\w+)\}/g, (_, name: string) => req.path[name] ?? 'missing')
  const query = req.query.map(([k, v]) => `${encodeQueryPart(k)}=${encodeQueryPart(v)}`).join('&')
  const url = query ? `${path}?${query}` : path
  let call = t.request[op.method as 'get' | 'post' | 'put' | 'delete'](url).timeout(10_000)
  const keys = { admin: tenant.key, 'read-only': tenant.readOnly, 'status-only': tenant.statusOnly }
  if (req.auth === 'garbage') call = call.set('Authorization', 'Bearer st_not-a-real-key')
  else if (req.auth === 'malformed') call = call.set('Authorization', 'Basic dXNlcjpwYXNz')
  else if (req.auth !== 'none') call = call.set(bearer(keys[req.auth]))
  call = call.set(req.headers)
  if (req.body) {
    const { text, type, encoding } = bodyText(req.body)
    call = call.set('Content-Type', type)
    if (encoding) call = call.set('Content-Encoding', encoding)
    call = call.send(text)
  }
  return call
}

const describeRequest = (req: FuzzRequest) =>
  JSON.stringify(req, (_k, v: unknown) =>
    typeof v === 'string' && v.length > 300 ? `${v.slice(0, 300)}…(${v.length})` : v,
  )

// ---------------------------------------------------------------------------------------------------
// Valid requests, from the documented schemas

const SORTS = SORT_KEYS.flatMap((key) => [key, `-${key}`])
const loopbackUrl = fc
  .tuple(
    fc.constantFrom('http', 'https'),
    fc.webPath(),
    fc.option(fc.webQueryParameters(), { nil: undefined }),
  )
  .map(([scheme, path, query]) => `${scheme}://127.0.0.1:9${path}${query ? `?${query}` : ''}`)
const smallMetadata = fc
  .dictionary(fc.string({ unit: 'grapheme', maxLength: 12 }), metadataValue, { maxKeys: 5 })
  .filter(
    (m) => !JSON.stringify(m).includes('"__proto__"') && Buffer.byteLength(JSON.stringify(m)) <= 16 * 1024,
  )

const bodyOptions = {
  overrides: { url: loopbackUrl, metadata: smallMetadata, details: smallMetadata },
}

/** A list item on the wire: commas separate items and blanks are dropped, so neither may be in one. */
const listItem = (schema: JsonSchema) =>
  (arbitraryFor(schema) as fc.Arbitrary<string>).filter((s) => !s.includes(',') && s.trim() !== '')

function queryArbitrary(p: Parameter): fc.Arbitrary<[string, string][]> {
  if (p.name === 'sort') return fc.constantFrom(...SORTS).map((v) => [[p.name, v]])
  if (p.schema.type === 'array') {
    const items = fc.array(listItem(p.schema.items!), {
      minLength: p.schema.minItems ?? 1,
      maxLength: Math.min(p.schema.maxItems ?? 4, 4),
    })
    return fc
      .tuple(items, fc.boolean())
      .map(([values, repeated]) =>
        repeated ? values.map((v): [string, string] => [p.name, v]) : [[p.name, values.join(',')]],
      )
  }
  return arbitraryFor(p.schema).map((v) => [[p.name, String(v)]])
}

const FRESH = '\u0001fresh\u0001'

function validRequest(op: Operation): fc.Arbitrary<FuzzRequest> {
  const path: Record<string, fc.Arbitrary<string>> = {}
  const query: fc.Arbitrary<[string, string][]>[] = []
  const headers: Record<string, fc.Arbitrary<string>> = {}
  for (const p of op.parameters) {
    if (p.in === 'path') {
      const random = arbitraryFor(p.schema) as fc.Arbitrary<string>
      path[p.name] =
        p.name === 'delivery_id' ? random : fc.oneof({ weight: 3, arbitrary: fc.constant(FRESH) }, random)
    } else if (p.in === 'query') {
      // A cursor is bound to the query it came from: a made-up one is refused by design (see the invalid runs).
      if (p.name === 'cursor') continue
      // A waiting read that waits would hold the run for its timeout: valid runs never wait.
      if (p.name === 'timeout_s') {
        query.push(fc.constant<[string, string][]>([['timeout_s', '0']]))
        continue
      }
      query.push(fc.oneof(fc.constant<[string, string][]>([]), queryArbitrary(p)))
    } else if (p.in === 'header') {
      const value = (arbitraryFor(p.schema, { text: headerText }) as fc.Arbitrary<string>).filter(
        (v) => v.trim() !== '',
      )
      headers[p.name] = value
    }
  }
  const body = op.body ? arbitraryFor(op.body.schema, bodyOptions) : fc.constant(undefined)
  const request = fc.record({
    mutation: fc.constant('none'),
    path: fc.record(path),
    query: fc.tuple(...query).map((parts) => parts.flat()),
    headers: fc.record(headers, { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>,
    body: (op.body?.required ? body : fc.option(body, { nil: undefined })).map((value): Body | undefined =>
      value === undefined ? undefined : { kind: 'json', value },
    ),
    auth: fc.constant('admin' as const),
  }) as fc.Arbitrary<FuzzRequest>
  // Bulk cancel takes its filter as query parameters or as a body, not both (its description says so).
  if (op.body && !op.body.required) return request.map((r) => (r.body ? { ...r, query: [] } : r))
  return request
}

const headerText = ({ minLength, maxLength }: { minLength: number; maxLength: number }) =>
  fc.string({ unit: 'grapheme-ascii', minLength, maxLength: Math.min(maxLength, minLength + 40) })

/** Makes what a `FRESH` path parameter names, in the state `initial`, and returns its id. */
async function fresh(op: Operation, name: string, tenant: Tenant, initial: string): Promise<string> {
  const auth = bearer(tenant.key)
  if (op.route.startsWith('/api/status/')) {
    const res = await t.request.post('/api/status').set(auth).send({ status: initial })
    expect(res.status).toBe(201)
    return res.body.status_id as string
  }
  if (op.route.startsWith('/api/keys/')) {
    const res = await t.request
      .post('/api/keys')
      .set(auth)
      .send({ scopes: ['status:read'] })
    expect(res.status).toBe(201)
    return res.body.id as string
  }
  if (op.route.startsWith('/api/webhooks/')) {
    const res = await t.request.post('/api/webhooks').set(auth).send({ url: 'http://127.0.0.1:9/fresh' })
    expect(res.status).toBe(201)
    return res.body.id as string
  }
  throw new Error(`no way to make a fresh ${name} for ${op.name}`)
}

const CROSS_FIELD_RULES = [
  /^must be below /, // progress_gte above progress_lte, or an "after" bound not before its "before"
  /^does not match If-Match/, // If-Match and expected_version disagree
  /^at least one of /, // an update or batch item that updates nothing
  /^must not exceed steps_total/,
  /^needs wait$/, // timeout_s or after_version without wait
  /^only with wait=change$/,
  /^must be in the future/, // start_by and deadline_at are judged against the clock
  /^status_ids or parent_id is required$/, // a token names what it covers (both are optional alone)
]

/**
 * Refusals of valid-by-schema requests that the API's rules allow, because no JSON Schema says them:
 * filter bounds that can match nothing, and If-Match disagreeing with `expected_version`.
 */
function allowedRefusal(res: Response): boolean {
  if (res.status === 400 && res.body.code === 'filter-required') return true // bulk cancel never cancels all
  if (res.status !== 400 || res.body.code !== 'validation-failed') return false
  const errors = (res.body.errors ?? []) as { message: string }[]
  return errors.length > 0 && errors.every((e) => CROSS_FIELD_RULES.some((rule) => rule.test(e.message)))
}

// ---------------------------------------------------------------------------------------------------
// Invalid requests: one thing wrong with an otherwise valid request

/** `sort` is documented as a bare string (its keys are in the description); the rest from the schema. */
const invalidQuery = (p: Parameter): fc.Arbitrary<string[]> =>
  p.name === 'sort'
    ? fc
        .constantFrom(
          '',
          '-',
          '--status_id',
          'nope',
          'created_at,status_id',
          'STATUS_ID',
          ' status_id',
          '+status_id',
        )
        .map((v) => [v])
    : invalidQueryValue(p.schema)

const AUTH_CODES = { none: 401, garbage: 401, malformed: 401, 'read-only': 403, 'status-only': 403 } as const

function invalidRequest(op: Operation, tenant: Tenant): fc.Arbitrary<FuzzRequest> {
  const pathIds: Record<string, string> = {}
  for (const p of op.parameters.filter((p) => p.in === 'path')) {
    if (p.name === 'delivery_id') pathIds[p.name] = '00000000-0000-4000-8000-000000000000'
    else if (op.route.startsWith('/api/status/')) pathIds[p.name] = tenant.statusIds[0]!
    else if (op.route.startsWith('/api/webhooks/')) pathIds[p.name] = tenant.webhookId
    else pathIds[p.name] = 'key_0000000000000000'
  }
  const base = {
    path: pathIds,
    query: [] as [string, string][],
    headers: {} as Record<string, string>,
    auth: 'admin' as FuzzRequest['auth'],
  }
  const validBody = (
    op.body ? arbitraryFor(op.body.schema, bodyOptions) : fc.constant(undefined)
  ) as fc.Arbitrary<Record<string, unknown> | undefined>
  // Bulk cancel needs a filter; give the valid base one, so an empty body is not the only fault.
  const baseBody =
    op.name === 'POST /api/status/cancel' ? validBody.map((b) => ({ ...b, kind: 'fuzz-kind' })) : validBody
  const withBody = (b: Record<string, unknown> | undefined): Partial<FuzzRequest> =>
    b === undefined ? {} : { body: { kind: 'json', value: b } }

  const mutations: fc.Arbitrary<FuzzRequest>[] = []
  const add = (arb: fc.Arbitrary<Partial<FuzzRequest> & { mutation: string }>, weight = 1) =>
    mutations.push(
      ...Array.from({ length: weight }, () =>
        fc.tuple(baseBody, arb).map(([b, m]) => {
          // An optional body (bulk cancel's filter) stays out of query mutations: both at once is refused anyway.
          const body = m.query && op.body && !op.body.required ? {} : withBody(b)
          return { ...base, ...body, ...m } as FuzzRequest
        }),
      ),
    )

  // Auth: no key, a made-up key, another scheme, a key without the scope.
  const authCases: FuzzRequest['auth'][] = ['none', 'garbage', 'malformed']
  if (op.scope === 'status:write' || op.scope === 'admin') authCases.push('read-only')
  if (op.scope === 'admin') authCases.push('status-only')
  add(fc.constantFrom(...authCases).map((auth) => ({ mutation: `auth:${auth}`, auth })))

  for (const p of op.parameters) {
    if (p.in === 'path' && p.schema.pattern) {
      add(
        invalidSegment(p.schema.pattern).map((v) => ({
          mutation: `path:${p.name}`,
          path: { ...pathIds, [p.name]: v },
        })),
        2,
      )
    }
    if (p.in === 'query') {
      add(
        invalidQuery(p).map((vs) => ({
          mutation: `query:${p.name}`,
          query: vs.map((v): [string, string] => [p.name, v]),
        })),
        2,
      )
      if (p.schema.type !== 'array') {
        const valid = queryArbitrary(p)
        add(
          fc.tuple(valid, invalidQuery(p), fc.boolean()).map(([ok, [bad], badFirst]) => ({
            mutation: `query-repeated:${p.name}`,
            query: badFirst
              ? [[p.name, bad!] as [string, string], ...ok]
              : [...ok, [p.name, bad!] as [string, string]],
          })),
        )
      }
      add(
        fc.constantFrom(`${p.name}[]`, `${p.name}[0]`, `${p.name}[a]`, p.name.toUpperCase()).map((name) => ({
          mutation: `query-name:${name}`,
          query: [[name, 'x']],
        })),
      )
    }
    if (p.in === 'query' && p.name === 'cursor') {
      const real = op.route === '/api/status' ? tenant.listCursor : tenant.historyCursor
      const other = op.route === '/api/status' ? tenant.historyCursor : tenant.listCursor
      const flipped = fc.nat({ max: real.length - 1 }).chain((i) =>
        fc
          .constantFrom(...'ABCabc019-_.')
          .filter((c) => c !== real[i])
          .map((c) => real.slice(0, i) + c + real.slice(i + 1)),
      )
      add(
        fc
          .oneof(
            flipped,
            fc.constant(other),
            fc.base64String({ minLength: 4, maxLength: 64 }),
            fc.constant('x'.repeat(4097)),
            fc.constant(real + '.x'),
            fc.constant(`${real.split('.')[0]}.`),
          )
          .map((cursor) => ({ mutation: 'cursor', query: [['cursor', cursor]] })),
        3,
      )
    }
    if (p.in === 'header' && p.name === 'Idempotency-Key') {
      add(
        fc
          .oneof(
            fc.constantFrom('', '   '),
            fc.integer({ min: 256, max: 4096 }).map((n) => 'k'.repeat(n)),
          )
          .map((v) => ({ mutation: 'header:Idempotency-Key', headers: { 'Idempotency-Key': v } })),
      )
    }
    if (p.in === 'header' && p.name === 'If-Match') {
      add(
        fc
          .constantFrom('', '"abc"', 'W/', '"1" "2"', '"1", "2"', '1.5', '-1', '"-1"', 'x'.repeat(300), '**')
          .map((v) => ({ mutation: 'header:If-Match', headers: { 'If-Match': v } })),
      )
    }
  }
  if (op.parameters.some((p) => p.in === 'query')) {
    add(
      fc
        .constantFrom('unknown', '__proto__', 'constructor', 'toString', 'limit_', 'Limit')
        .filter((name) => !op.parameters.some((p) => p.name === name))
        .map((name) => ({
          mutation: `query-unknown:${name}`,
          query: [[name, '1']],
        })),
    )
  }

  const schema = op.body?.schema
  if (schema) {
    const batch = op.name === 'POST /api/status/batch'
    // Items of a batch are checked one by one (a bad item is listed in `rejected`): only its envelope is fuzzed here.
    const fieldSchema = (name: string, s: JsonSchema): JsonSchema =>
      batch && name === 'updates' ? { ...s, items: {} } : s
    for (const [name, s] of Object.entries(schema.properties ?? {})) {
      add(
        fc.tuple(baseBody, invalidValueFor(fieldSchema(name, s), isValid, bodyOptions)).map(([b, bad]) => ({
          mutation: `body:${name}`,
          body: { kind: 'json', value: { ...b, [name]: bad } },
        })),
        2,
      )
      add(
        fc
          .tuple(
            baseBody,
            fc.integer({ min: 100, max: 5000 }),
            fc.constantFrom('array' as const, 'object' as const),
          )
          .map(([b, depth, shape]) => ({
            mutation: `deep:${name}`,
            body: { kind: 'deep', base: b ?? {}, field: name, depth, shape },
          })),
      )
      if (!batch && s.type === 'string') {
        add(
          fc
            .tuple(
              baseBody,
              oddText({ minLength: 0, maxLength: Math.min(s.maxLength ?? 20, 20) - 3 }).chain(
                withLoneSurrogate,
              ),
            )
            .map(([b, bad]) => ({
              mutation: `lone-surrogate:${name}`,
              body: { kind: 'json', value: { ...b, [name]: bad } },
            })),
        )
        add(
          fc
            .tuple(
              baseBody,
              oddText({ minLength: 0, maxLength: Math.min(s.maxLength ?? 20, 20) - 3 }).chain(withNul),
            )
            .map(([b, bad]) => ({
              mutation: `nul:${name}`,
              body: { kind: 'json', value: { ...b, [name]: bad } },
            })),
        )
      }
    }
    const freeForm = Object.entries(schema.properties ?? {}).filter(
      ([, s]) => s.type === 'object' && !s.properties,
    )
    for (const [name] of freeForm) {
      add(
        fc.tuple(baseBody, smallMetadata, metadataValue).map(([b, m, v]) => ({
          mutation: `proto-key:${name}`,
          body: { kind: 'json', value: { ...b, [name]: withOwnKey(m, '__proto__', v ?? 1) } },
        })),
      )
      add(
        fc
          .tuple(
            baseBody,
            fc.integer({ min: 1000, max: 5000 }),
            fc.constantFrom('array' as const, 'object' as const),
          )
          .map(([b, depth, shape]) => ({
            mutation: `deep-metadata:${name}`,
            body: { kind: 'deep', base: b ?? {}, field: name, depth, shape },
          })),
      )
      add(
        fc.tuple(baseBody, fc.integer({ min: 16 * 1024, max: 64 * 1024 })).map(([b, n]) => ({
          mutation: `big-metadata:${name}`,
          body: { kind: 'json', value: { ...b, [name]: { blob: 'm'.repeat(n) } } },
        })),
      )
    }
    if (schema.additionalProperties === false) {
      add(
        fc
          .tuple(
            baseBody,
            fc.constantFrom('__proto__', 'constructor', 'prototype', 'unknown_field', 'Status_Id', ''),
            fc.jsonValue({ maxDepth: 1 }),
          )
          .map(([b, key, v]) => ({
            mutation: `body-unknown:${key}`,
            body: { kind: 'json', value: withOwnKey(b ?? {}, key, v ?? { polluted: true }) },
          })),
      )
    }
    add(
      fc
        .oneof(
          fc.constantFrom<unknown>([], [{}], 'x', 1, null, true, false, 0),
          fc.integer({ min: 100, max: 5000 }).map((depth) => ({ depth })),
        )
        .filter((v) => (typeof v === 'object' && v !== null && 'depth' in v) || !isValid(schema, v))
        .map((v) => ({
          mutation: 'body-shape',
          body:
            typeof v === 'object' && v !== null && 'depth' in v
              ? {
                  kind: 'deep' as const,
                  base: {},
                  field: null,
                  depth: (v as { depth: number }).depth,
                  shape: 'array' as const,
                }
              : { kind: 'json' as const, value: v },
        })),
    )
    add(
      fc
        .tuple(
          baseBody,
          fc.nat(),
          fc.constantFrom(
            '{',
            '{"a":}',
            "{'a':1}",
            '{"a":1,}',
            '{"a":NaN}',
            '[1,]',
            '{"a":1}{',
            '\u0000',
            'nul',
            '{"a":"\\x"}',
            '{"a":"\\ud8"}',
          ),
        )
        .map(([b, cut, junk]) => {
          const whole = JSON.stringify(b ?? {})
          const prefix = whole.slice(0, cut % Math.max(whole.length, 1))
          const text = prefix.length > 0 && !parses(prefix) ? prefix : junk
          return {
            mutation: 'malformed-json',
            body: { kind: 'text' as const, text, type: 'application/json' },
          }
        }),
    )
    add(
      fc
        .tuple(
          baseBody,
          fc.constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'application/xml',
            'application/json; charset=latin1',
            'application/json; charset=shift_jis',
          ),
        )
        .map(([b, type]) => ({
          mutation: `content-type:${type}`,
          body: { kind: 'text' as const, text: JSON.stringify(b ?? {}), type },
        })),
    )
    add(
      fc
        .tuple(baseBody, fc.constantFrom('compress', 'x-unknown', 'gzip', 'deflate', 'br'))
        .map(([b, encoding]) => ({
          mutation: `content-encoding:${encoding}`,
          body: { kind: 'text' as const, text: JSON.stringify(b ?? {}), type: 'application/json', encoding },
        })),
    )
    add(
      fc
        .constantFrom('string' as const, 'nested' as const)
        .map((shape) => ({ mutation: `oversized:${shape}`, body: { kind: 'oversized' as const, shape } })),
    )
  }
  return fc.oneof(...mutations)
}

function parses(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------------

test('the fuzzed operations are exactly the documented ones', () => {
  expect(operations.map((op) => op.name)).toEqual(
    Object.entries(doc.paths).flatMap(([route, item]) =>
      Object.keys(item)
        .filter((m) => m !== 'parameters')
        .map((m) => `${m.toUpperCase()} ${route}`),
    ),
  )
  expect(apiOperations.length).toBeGreaterThanOrEqual(22)
})

describe.each(apiOperations.map((op) => [op.name, op] as const))('%s', (_name, op) => {
  let tenant: Tenant
  beforeAll(async () => {
    tenant = await fuzzTenant()
  })

  test('when it gets random invalid input, then a documented 4xx problem whose status is the HTTP code, and nothing changes', async () => {
    await fc.assert(
      fc.asyncProperty(invalidRequest(op, tenant), async (req) => {
        // Taken before each run, so that a change made by one run is blamed on that run alone.
        const before = await fingerprint(tenant)
        const res = await send(op, req, tenant)
        const what = `${op.name} ${describeRequest(req)} → ${res.status} ${res.text?.slice(0, 500)}`
        expect({ what, status: res.status >= 400 && res.status < 500 }).toEqual({ what, status: true })
        if (req.auth !== 'admin')
          expect({ what, status: res.status }).toEqual({ what, status: AUTH_CODES[req.auth] })
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
        expect({ what, body: res.body }).toMatchObject({
          what,
          body: {
            status: res.status,
            type: expect.any(String),
            title: expect.any(String),
            code: expect.any(String),
          },
        })
        check.expectDocumented(res, op.method, op.route)
        expect({ what, after: await fingerprint(tenant) }).toEqual({ what, after: before })
      }),
      params,
    )
  })

  if (op.name === 'GET /api/events/stream') return // a valid request opens a stream that never ends

  test('when it gets random valid input, then a documented answer whose body matches the documented schema', async () => {
    await fc.assert(
      fc.asyncProperty(validRequest(op), fc.constantFrom(...STATUS_VALUES), async (req, initial) => {
        const path = { ...req.path }
        for (const [name, value] of Object.entries(path)) {
          path[name] =
            value === FRESH ? encodeSegment(await fresh(op, name, tenant, initial)) : encodeSegment(value)
        }
        const res = await send(op, { ...req, path }, tenant)
        const what = `${op.name} ${describeRequest({ ...req, path })} → ${res.status} ${res.text?.slice(0, 500)}`
        expect({ what, ok: res.status < 500 }).toEqual({ what, ok: true })
        const refused = [400, 401, 403, 413, 415, 429].includes(res.status)
        expect({ what, refused: refused && !allowedRefusal(res) }).toEqual({ what, refused: false })
        check.expectDocumented(res, op.method, op.route)
      }),
      params,
    )
  })
})

describe.each(operations.filter((op) => !op.route.startsWith('/api/')).map((op) => [op.name, op] as const))(
  '%s',
  (_name, op) => {
    test('when asked, then a documented answer whose body matches the documented schema', async () => {
      const res = await t.request[op.method as 'get'](op.route)

      expect({ status: res.status, ok: res.status < 500 || op.codes.includes(res.status) }).toEqual({
        status: res.status,
        ok: true,
      })
      check.expectDocumented(res, op.method, op.route)
    })
  },
)
