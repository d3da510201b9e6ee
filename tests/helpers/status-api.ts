import type { Response } from 'supertest'
import type { StatusChangeEvent, StatusEvent, StatusRecord } from '../../src/client/types'
import type { StatusCreate } from '../../src/http/schemas/status'
import { makeStatus } from './factories'
import { bearer, type TestApp } from './test-app'
import { freshTenantName } from './tenants'

/** A status and an event as they travel on the wire (dates are RFC 3339 strings): the client's types. */
export type StatusJson = StatusRecord
/** A change event: what a status's history holds, and most of what the tests read from the feed. */
export type EventJson = StatusChangeEvent
/** Any event of the feed, log lines included. */
export type FeedEventJson = StatusEvent

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
export const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

/** An RFC 9457 answer with our stable code; on failure the whole body is printed. */
export function expectProblem(
  res: Response,
  status: number,
  code: string,
  extra: Record<string, unknown> = {},
) {
  expect({ status: res.status, body: res.body }).toMatchObject({
    status,
    body: {
      type: `/problems/${code}`,
      code,
      status,
      title: expect.any(String),
      detail: expect.any(String),
      ...extra,
    },
  })
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
}

/** A 400 validation-failed whose `errors` name `path` (an empty path is the whole body or header). */
export function expectValidationError(res: Response, path?: string) {
  expectProblem(res, 400, 'validation-failed')
  const errors = res.body.errors as { path: string; message: string }[]
  expect(errors.length).toBeGreaterThan(0)
  for (const issue of errors) {
    expect(issue).toEqual({ path: expect.any(String), message: expect.any(String) })
    expect(issue.message.length).toBeGreaterThan(0)
  }
  if (path !== undefined) expect(errors.map((e) => e.path)).toContain(path)
}

type Body = Record<string, unknown>
type Headers = Record<string, string>

/** The status API as one API key sees it. */
export function statusApi(t: TestApp, key: string) {
  const auth = bearer(key)
  const at = (id: string, rest = '') => `/api/status/${encodeURIComponent(id)}${rest}`

  const api = {
    key,

    create: (body: Body = makeStatus(), headers: Headers = {}) =>
      t.request.post('/api/status').set(auth).set(headers).send(body),

    /** Creates a status from the factory and returns the record; fails the test on anything but 201. */
    async createOk(overrides: Partial<StatusCreate> = {}): Promise<StatusJson> {
      const res = await api.create(makeStatus(overrides))
      expect({ status: res.status, body: res.body }).toMatchObject({ status: 201 })
      return res.body as StatusJson
    },

    get: (id: string, headers: Headers = {}) => t.request.get(at(id)).set(auth).set(headers),

    update: (id: string, body: Body, headers: Headers = {}) =>
      t.request.put(at(id)).set(auth).set(headers).send(body),

    async updateOk(id: string, body: Body): Promise<StatusJson> {
      const res = await api.update(id, body)
      expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 })
      return res.body as StatusJson
    },

    recordError: (id: string, body: Body, headers: Headers = {}) =>
      t.request.post(at(id, '/errors')).set(auth).set(headers).send(body),

    cancel: (id: string, headers: Headers = {}) => t.request.post(at(id, '/cancel')).set(auth).set(headers),

    remove: (id: string) => t.request.delete(at(id)).set(auth),

    history: (id: string, query: Record<string, string | number | undefined> = {}) =>
      t.request.get(at(id, '/history')).query(query).set(auth),

    /** Every event of one status, oldest first. */
    async allHistory(id: string): Promise<EventJson[]> {
      const res = await api.history(id, { limit: 500 })
      expect({ status: res.status, has_more: res.body.has_more }).toEqual({ status: 200, has_more: false })
      return res.body.items as EventJson[]
    },

    events: (query: Record<string, string | number | undefined> = {}) =>
      t.request.get('/api/events').query(query).set(auth),

    /** The key's whole tenant feed, in one page. */
    async allEvents(): Promise<EventJson[]> {
      const res = await api.events({ limit: 1000 })
      expect({ status: res.status, has_more: res.body.has_more }).toEqual({ status: 200, has_more: false })
      return res.body.items as EventJson[]
    },

    /** `query` is a raw query string, so repeated parameters can be written out. */
    list: (query = '') => t.request.get(`/api/status${query ? `?${query}` : ''}`).set(auth),

    stats: () => t.request.get('/api/stats').set(auth),

    /** What a rejected request must leave untouched: the record and the status's events. */
    async snapshot(id: string) {
      const res = await api.get(id)
      return { status: res.status, record: res.body as StatusJson, events: await api.allHistory(id) }
    },
  }
  return api
}

export type StatusApi = ReturnType<typeof statusApi>

/** A key in a tenant of its own, for tests that read tenant-wide views (events feed, lists, stats). */
export async function freshTenantApi(t: TestApp, prefix = 'tenant'): Promise<StatusApi> {
  return statusApi(t, await t.makeKey(freshTenantName(prefix)))
}
