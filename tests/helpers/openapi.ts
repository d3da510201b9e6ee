import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020'
import addFormats from 'ajv-formats'
import type { Application } from 'express'
import type { Response } from 'supertest'

export type OpenApiDocument = {
  openapi: string
  paths: Record<string, Record<string, unknown>>
  webhooks?: Record<string, Record<string, unknown>>
  components?: Record<string, Record<string, unknown>>
} & Record<string, unknown>

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const

/** `METHOD /path/{param}` for every operation the document describes. */
export function documentedOperations(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([route, item]) =>
    HTTP_METHODS.filter((method) => method in item).map((method) => `${method.toUpperCase()} ${route}`),
  )
}

// Express 5's router (the `router` package, 2.3 and later) lists what was registered on it with
// `listRoutes()`: one entry per route with its methods, and one per mounted router, which lists its own.
// Plain middleware (auth, static files, error handlers) is not listed.
interface ListedRoute {
  path: string | RegExp
  methods?: string[]
  router?: RouterLike
}
interface RouterLike {
  listRoutes(): ListedRoute[]
}

const joinPath = (base: string, part: string) => `${base.replace(/\/$/, '')}/${part.replace(/^\//, '')}`

/** `METHOD /path/{param}` for every route mounted on the app, in OpenAPI's path syntax. */
export function mountedOperations(app: Application): string[] {
  const walk = (router: RouterLike, base: string): string[] =>
    router.listRoutes().flatMap(({ path: raw, methods, router: child }) => {
      if (typeof raw !== 'string') throw new Error(`a route with a RegExp path cannot be documented: ${raw}`)
      const full = joinPath(base, raw)
      if (child) return walk(child, full)
      const own = (methods ?? []).map((m) => m.toLowerCase())
      if (own.includes('*')) throw new Error(`${full} answers every method (.all): document each one instead`)
      const openApiPath = (full === '/' ? full : full.replace(/\/$/, '')).replace(/:(\w+)/g, '{$1}')
      // The router adds HEAD to every GET route by itself; it is not an operation of its own.
      return own
        .filter((m) => !(m === 'head' && own.includes('get')))
        .map((m) => `${m.toUpperCase()} ${openApiPath}`)
    })
  const root = (app as unknown as { router: RouterLike }).router
  if (typeof root.listRoutes !== 'function')
    throw new Error('router.listRoutes() needs the router package 2.3+')
  return walk(root, '/')
}

/** Validates a document with @seriousme/openapi-schema-validator (ESM only, so in a child process). */
export async function validateOpenApi(doc: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'openapi-'))
  const file = path.join(dir, 'openapi.json')
  try {
    await writeFile(file, JSON.stringify(doc))
    const cli = require.resolve('@seriousme/openapi-schema-validator/bin/validate-api-cli.js')
    const run = await promisify(execFile)(process.execPath, [cli, file]).catch(
      (err: { stdout?: string; code?: number }) => {
        if (err.code === 1 && err.stdout) return { stdout: err.stdout }
        throw err
      },
    )
    return JSON.parse(run.stdout) as { valid: boolean; errors?: unknown }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Every `$ref` in the document, with whether it points at something in it. */
export function danglingRefs(doc: unknown): string[] {
  const refs: string[] = []
  const visit = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(visit)
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string') refs.push(value)
        else visit(value)
      }
    }
  }
  visit(doc)
  return refs.filter((ref) => resolvePointer(doc, ref) === undefined)
}

function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined
  return ref
    .slice(2)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>(
      (node, part) =>
        node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined,
      doc,
    )
}

const pointerOf = (...parts: string[]) =>
  '#/' + parts.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')

interface ResponseObject {
  headers?: Record<string, { required?: boolean; $ref?: string }>
  content?: Record<string, { schema?: unknown }>
  $ref?: string
}

/**
 * Checks real answers against the document: the status code is documented for the operation, the
 * content type is one it lists, the body matches its JSON Schema (compiled by Ajv from the document
 * itself, so `$ref`s resolve as any client would resolve them), and required headers are present.
 */
export function responseChecker(doc: OpenApiDocument) {
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  addFormats(ajv)
  ajv.addSchema(doc, 'openapi.json')
  const compiled = new Map<string, ValidateFunction>()

  /** The documented answer to `status` of an operation (`paths` or `webhooks`), with its pointer. */
  function documented(section: 'paths' | 'webhooks', route: string, method: string, status: number) {
    const operation = (
      doc[section] as Record<string, Record<string, { responses?: Record<string, unknown> }>>
    )?.[route]?.[method.toLowerCase()]
    if (!operation) throw new Error(`${method} ${route} is not documented`)
    const responses = operation.responses ?? {}
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in responses)
    if (!key) throw new Error(`${method} ${route} does not document a ${status} answer`)
    let response = responses[key] as ResponseObject
    let pointer = pointerOf(section, route, method.toLowerCase(), 'responses', key)
    if (response.$ref) {
      pointer = response.$ref
      response = resolvePointer(doc, response.$ref) as ResponseObject
    }
    return { response, pointer }
  }

  function validatorAt(pointer: string): ValidateFunction {
    let validate = compiled.get(pointer)
    if (!validate) {
      validate = ajv.getSchema(`openapi.json${pointer}`)
      if (!validate) throw new Error(`no schema at ${pointer}`)
      compiled.set(pointer, validate)
    }
    return validate
  }

  /** Asserts that `res`, the answer to `method route` (route in OpenAPI syntax), is as documented. */
  function expectDocumented(res: Response, method: string, route: string): void {
    const { response, pointer } = documented('paths', route, method, res.status)
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      const resolved = (header.$ref ? resolvePointer(doc, header.$ref) : header) as { required?: boolean }
      if (resolved.required && res.headers[name.toLowerCase()] === undefined) {
        throw new Error(`${method} ${route} ${res.status}: the documented header ${name} is missing`)
      }
    }
    const content = response.content
    if (!content) {
      if (res.text) throw new Error(`${method} ${route} ${res.status} documents no body but one came`)
      return
    }
    const type = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
    if (!(type in content)) {
      throw new Error(
        `${method} ${route} ${res.status}: ${type} is not among ${Object.keys(content).join(', ')}`,
      )
    }
    const body = /^application\/(.+\+)?json$/.test(type) ? res.body : res.text
    expectMatches(
      pointer + '/content/' + type.replace(/\//g, '~1') + '/schema',
      body,
      `${method} ${route} ${res.status}`,
    )
  }

  /** Asserts that `value` matches the schema at `pointer` (a `#/...` pointer into the document). */
  function expectMatches(pointer: string, value: unknown, what = pointer): void {
    const validate = validatorAt(pointer)
    if (!validate(value)) {
      throw new Error(`${what} does not match the document:\n${JSON.stringify(validate.errors, null, 2)}`)
    }
  }

  return { expectDocumented, expectMatches, documented }
}
