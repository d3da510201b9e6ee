import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020'
import addFormats from 'ajv-formats'
import fc from 'fast-check'
import type { OpenApiDocument } from './openapi'
import { HTTP_METHODS } from './openapi'
import { arbitraryFor, oddText, type JsonSchema, type SchemaArbitraryOptions } from './schema-arbitrary'

/** Runs per property: FUZZ_RUNS (the runner's --fuzz-runs), small by default. FUZZ_SEED replays a run. */
export function fuzzParameters(): { numRuns: number; seed?: number } {
  const runs = Number(process.env.FUZZ_RUNS ?? '')
  const seed = process.env.FUZZ_SEED
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : 15,
    ...(seed !== undefined && seed !== '' && { seed: Number(seed) }),
  }
}

export interface Parameter {
  name: string
  in: 'path' | 'query' | 'header'
  required: boolean
  schema: JsonSchema
}

/** One documented operation, as the fuzzer needs it. */
export interface Operation {
  /** `METHOD /route/{param}` */
  name: string
  method: (typeof HTTP_METHODS)[number]
  route: string
  parameters: Parameter[]
  body?: { schema: JsonSchema; required: boolean }
  codes: number[]
  scope?: string
}

export function operationsOf(doc: OpenApiDocument): Operation[] {
  return Object.entries(doc.paths).flatMap(([route, item]) =>
    HTTP_METHODS.filter((method) => method in item).map((method) => {
      const op = item[method] as {
        parameters?: Parameter[]
        requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> }
        responses: Record<string, unknown>
        'x-required-scope'?: string
      }
      const body = op.requestBody?.content['application/json']
      return {
        name: `${method.toUpperCase()} ${route}`,
        method,
        route,
        parameters: (op.parameters ?? []).map((p) => ({ ...p, required: Boolean(p.required) })),
        ...(body && { body: { schema: body.schema, required: Boolean(op.requestBody?.required) } }),
        codes: Object.keys(op.responses).map(Number),
        scope: op['x-required-scope'],
      }
    }),
  )
}

/** Checks a value against a schema the way a client holding the document would. */
export function schemaValidator(doc: OpenApiDocument) {
  const ajv = new Ajv2020({ allErrors: false, strict: false })
  addFormats(ajv)
  const cache = new Map<string, ValidateFunction>()
  return (schema: JsonSchema, value: unknown): boolean => {
    const key = JSON.stringify(schema)
    let validate = cache.get(key)
    if (!validate) {
      validate = ajv.compile({ ...schema, $defs: doc.components })
      cache.set(key, validate)
    }
    return validate(value)
  }
}

/** An object with an own `__proto__` key, as JSON.parse makes it (a literal would set the prototype). */
export const withOwnKey = (base: Record<string, unknown>, key: string, value: unknown) => {
  const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>
  Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true })
  return copy
}

/** `depth` arrays (or objects) inside one another, as JSON text, around `leaf`. */
export function nestedJson(depth: number, kind: 'array' | 'object', leaf = '1'): string {
  return kind === 'array'
    ? '['.repeat(depth) + leaf + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + leaf + '}'.repeat(depth)
}

export const LONE_SURROGATES = ['\ud800', '\udfff', 'a\ud800b', '\udc00\ud800'] as const

/**
 * A string made invalid by a lone surrogate somewhere in otherwise valid text, put between code points:
 * inside a pair, `\udc00\ud800` would join the halves around it into two well-formed pairs.
 */
export const withLoneSurrogate = (valid: string) =>
  fc.tuple(fc.nat({ max: [...valid].length }), fc.constantFrom(...LONE_SURROGATES)).map(([at, bad]) => {
    const points = [...valid]
    return points.slice(0, at).join('') + bad + points.slice(at).join('')
  })

/** A string made invalid by U+0000 (which PostgreSQL cannot store) somewhere in otherwise valid text. */
export const withNul = (valid: string) =>
  fc.nat({ max: valid.length }).map((at) => `${valid.slice(0, at)}\u0000${valid.slice(at)}`)

const wrongTypes: Record<string, unknown[]> = {
  string: [0, 1.5, true, null, [], ['x'], {}, { a: 'x' }],
  number: ['5', '', true, null, [], [5], {}],
  integer: ['5', 1.5, true, null, [], {}],
  boolean: ['true', 'false', 0, 1, null, [], {}],
  array: ['x', 0, true, null, {}, { 0: 'x' }],
  object: ['x', 0, true, null, [], [{}]],
}

/**
 * Values invalid for `schema` as a JSON body field (or a whole body): wrong types, out-of-bounds and
 * huge numbers, too long or too short strings, pattern and enum misses, too many items. Every candidate
 * is checked against the schema with `isValid`, so each one really is invalid by the document.
 */
export function invalidValueFor(
  schema: JsonSchema,
  isValid: (schema: JsonSchema, value: unknown) => boolean,
  options: SchemaArbitraryOptions = {},
): fc.Arbitrary<unknown> {
  const candidates: fc.Arbitrary<unknown>[] = []
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : []
  const branches = schema.anyOf ?? schema.oneOf ?? []
  const every = [...new Set([...types, ...branches.flatMap((b) => (b.type ? [b.type as string] : []))])]
  const others = Object.entries(wrongTypes)
    .filter(([type]) => !every.includes(type) && !(type === 'integer' && every.includes('number')))
    .flatMap(([, values]) => values)
  candidates.push(fc.constantFrom(null, ...Object.values(wrongTypes).flat()))
  if (others.length > 0) candidates.push(fc.constantFrom(...others))

  for (const s of [schema, ...branches]) {
    if (s.type === 'number' || s.type === 'integer') {
      const huge = [1e308, -1e308, Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53, -(2 ** 53), -1e-320, -5e-324]
      candidates.push(fc.constantFrom(...huge))
      if (s.minimum !== undefined)
        candidates.push(fc.double({ max: s.minimum, noNaN: true, noDefaultInfinity: true }))
      if (s.maximum !== undefined)
        candidates.push(fc.double({ min: s.maximum, noNaN: true, noDefaultInfinity: true }))
      if (s.type === 'integer') candidates.push(fc.double({ noNaN: true, noDefaultInfinity: true }))
    }
    if (s.type === 'string') {
      if (s.maxLength !== undefined) {
        const max = s.maxLength
        candidates.push(
          fc.integer({ min: max + 1, max: max + 64 }).chain((n) => oddText({ minLength: n, maxLength: n })),
        )
      }
      if ((s.minLength ?? 0) > 0) candidates.push(fc.constant(''))
      if (s.pattern || s.format) {
        candidates.push(
          fc.constantFrom(
            '',
            ' ',
            'a b',
            'x/y',
            '😀',
            '\u0000',
            '2024-13-45T25:61:00Z',
            '2024-01-01',
            'x'.repeat(300),
          ),
          oddText({ minLength: 0, maxLength: 40 }),
        )
      }
      if (s.enum) candidates.push(oddText({ minLength: 0, maxLength: 20 }))
    }
    if (s.enum) {
      const strings = s.enum.filter((v): v is string => typeof v === 'string')
      candidates.push(
        fc.constantFrom(...strings.flatMap((v) => [v.toUpperCase(), ` ${v}`, `${v} `, `${v}x`, v.slice(1)])),
      )
    }
    if (s.type === 'array' && s.items) {
      const items = s.items
      // Items that may be anything (`{}`) have no invalid value: asking for one would never end.
      const free = Object.keys(items).length === 0
      const item = free ? fc.constant({}) : arbitraryFor(items, options)
      if (s.maxItems !== undefined)
        candidates.push(fc.array(item, { minLength: s.maxItems + 1, maxLength: s.maxItems + 3 }))
      if ((s.minItems ?? 0) > 0) candidates.push(fc.constant([]))
      if (!free) {
        candidates.push(
          fc
            .tuple(fc.array(item, { maxLength: 2 }), invalidValueFor(items, isValid, options))
            .map(([ok, bad]) => [...ok, bad]),
        )
      }
    }
    if (s.type === 'object' && s.properties) {
      const valid = arbitraryFor(s, options) as fc.Arbitrary<Record<string, unknown>>
      if (s.additionalProperties === false) {
        candidates.push(
          fc
            .tuple(
              valid,
              fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'unknown_field', ''),
              fc.jsonValue({ maxDepth: 1 }),
            )
            .map(([base, key, value]) => withOwnKey(base, key, value ?? 1)),
        )
      }
      for (const name of s.required ?? []) {
        candidates.push(valid.map(({ [name]: _gone, ...rest }) => rest))
      }
    }
  }
  return fc.oneof(...candidates).filter((value) => !isValid(schema, value))
}

/**
 * Bytes as they go into a URL path segment: everything but unreserved characters percent-encoded as
 * UTF-8 (a lone surrogate becomes U+FFFD; raw broken escapes are made separately).
 */
export const encodeSegment = (value: string) =>
  [...Buffer.from(value, 'utf8')]
    .map((byte) => {
      const ch = String.fromCharCode(byte)
      return /[A-Za-z0-9\-_~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
    })
    .join('')

/** Path segments that no id pattern accepts, already encoded for the URL. */
export function invalidSegment(pattern: string): fc.Arbitrary<string> {
  const regex = new RegExp(pattern)
  const decoded = fc
    .oneof(
      fc.constantFrom(
        ' ',
        'a b',
        'x/y',
        'a?b',
        'a#b',
        '%',
        'é',
        '😀',
        '\u0000',
        '\u200f',
        'x'.repeat(129),
        'x'.repeat(5000),
      ),
      oddText({ minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
    )
    .filter((s) => !regex.test(s) && !/^\.{1,2}$/.test(s))
    .map(encodeSegment)
  // Escapes that are not UTF-8 at all (or not escapes): the router cannot even decode them.
  const broken = fc.constantFrom('%ZZ', '%E0%A4%A', '%ED%A0%80', '%C0%AF', '%FF', 'abc%')
  return fc.oneof({ weight: 4, arbitrary: decoded }, broken)
}

/** Query values (as strings) that `schema` refuses. */
export function invalidQueryValue(schema: JsonSchema): fc.Arbitrary<string[]> {
  const one = (arb: fc.Arbitrary<string>) => arb.map((v) => [v])
  const out: fc.Arbitrary<string[]>[] = []
  const s = schema
  if (s.type === 'number' || s.type === 'integer') {
    const bad = ['', ' ', 'abc', 'NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '1,2', '[]', 'true']
    if (s.minimum !== undefined) bad.push(String(s.minimum - 1), '-1e308')
    if (s.maximum !== undefined) bad.push(String(s.maximum + 1), '1e308')
    if (s.type === 'integer') bad.push('1.5', '0.1', '1e-320')
    out.push(one(fc.constantFrom(...bad)))
  }
  if (s.type === 'string') {
    const refused = (v: string) =>
      (s.minLength !== undefined && v.length < s.minLength) ||
      (s.maxLength !== undefined && v.length > s.maxLength) ||
      (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) ||
      (s.enum !== undefined && !s.enum.includes(v)) ||
      (s.const !== undefined && v !== s.const)
    if (s.format === 'date-time') {
      out.push(
        one(
          fc.constantFrom(
            '',
            'now',
            '2024-01-01',
            '2024-01-01T00:00:00',
            '2024-02-30T00:00:00Z',
            '1e308',
            '9'.repeat(400),
          ),
        ),
      )
    } else {
      const candidates = ['', ' ', 'a b', 'nope', '\u0000', 'a\u0000b', 'y'.repeat((s.maxLength ?? 64) + 1)]
      const fixed = [...(s.enum ?? []), ...(s.const === undefined ? [] : [s.const])]
      candidates.push(...fixed.flatMap((v) => [String(v).toUpperCase(), `${String(v)}x`, 'false']))
      const bad = candidates.filter(refused)
      if (bad.length > 0) out.push(one(fc.constantFrom(...bad)))
    }
  }
  if (s.type === 'array' && s.items) {
    const items = s.items
    out.push(one(fc.constantFrom('', ',', ' , ')))
    if (items.enum)
      out.push(
        one(fc.constantFrom('nope', `${String(items.enum[0])},nope`, String(items.enum[0]).toUpperCase())),
      )
    if (items.maxLength !== undefined) out.push(one(fc.constant('t'.repeat(items.maxLength + 1))))
    if (s.maxItems !== undefined) {
      const n = s.maxItems + 1
      out.push(
        fc
          .constantFrom(
            Array.from({ length: n }, (_, i) => `t${i}`).join(','),
            ...[Array.from({ length: n }, (_, i) => `t${i}`)],
          )
          .map((v) => (Array.isArray(v) ? v : [v])),
      )
    }
  }
  if (out.length === 0) throw new Error(`no invalid query value for ${JSON.stringify(schema)}`)
  return fc.oneof(...out)
}
