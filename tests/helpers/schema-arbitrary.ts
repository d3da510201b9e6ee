import fc from 'fast-check'

/** The subset of JSON Schema (2020-12) that the OpenAPI document's request schemas use. */
export interface JsonSchema {
  $ref?: string
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  minLength?: number
  maxLength?: number
  pattern?: string
  format?: string
  items?: JsonSchema
  minItems?: number
  maxItems?: number
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  default?: unknown
  description?: string
}

export interface SchemaArbitraryOptions {
  /** Resolves a `$ref` (a `#/...` pointer into the document). */
  resolve?: (ref: string) => JsonSchema
  /**
   * Replaces the arbitrary of a property by name (e.g. a webhook `url`, whose schema says only
   * "a string of at most 2,048"), or drops it when the override is `null`.
   */
  overrides?: Record<string, fc.Arbitrary<unknown> | null>
  /** Arrays get at most this many items more than their minimum (1,000 updates a batch is too many). */
  extraItems?: number
  /** How strings are made; by default printable text with some Unicode oddities mixed in. */
  text?: (constraints: { minLength: number; maxLength: number }) => fc.Arbitrary<string>
}

/**
 * Characters that are valid in any string yet are often mishandled: right-to-left and zero-width marks,
 * a combining accent, an emoji outside the BMP, a BOM, a control character, quotes and the JSON and SQL
 * specials. (Not NUL: the API refuses it, so it is among the invalid inputs of fuzz-inputs.ts.)
 */
const ODD_CHARACTERS = [
  '\u0001',
  '\u200f',
  '\u202e',
  '\u200b',
  '\u0301',
  '😀',
  '\ufeff',
  '"',
  "'",
  '\\',
  '%',
  '_',
]

const oddUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom(...ODD_CHARACTERS) },
)

/**
 * Text of `minLength`–`maxLength` UTF-16 code units, as zod counts them (JSON Schema counts code points,
 * so a string of emoji the document allows may still be refused: the generator stays on the safe side).
 */
export function oddText({ minLength, maxLength }: { minLength: number; maxLength: number }) {
  const cap = Math.min(maxLength, minLength + 24)
  // Units are 1–4 code units long: keep whole units up to maxLength, then pad up to minLength.
  return fc.array(oddUnit, { minLength: Math.min(minLength, cap), maxLength: cap }).map((parts) => {
    let text = ''
    for (const part of parts) {
      if (text.length + part.length > maxLength) break
      text += part
    }
    return text.padEnd(minLength, 'a')
  })
}

/** A JSON value safe to store as free-form metadata: no `__proto__` key, no lone surrogates. */
export const metadataValue: fc.Arbitrary<unknown> = fc.jsonValue({
  maxDepth: 3,
  depthSize: 'small',
  stringUnit: 'grapheme',
})

const metadataKey = fc
  .string({ unit: 'grapheme', minLength: 0, maxLength: 12 })
  .filter((key) => key !== '__proto__')

const isoTime = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true })
  .chain((date) =>
    fc.constantFrom(
      date.toISOString(),
      date.toISOString().replace(/\.\d+Z$/, 'Z'),
      date.toISOString().replace('Z', '+00:00'),
    ),
  )

function integerBetween(min: number, max: number): fc.Arbitrary<number> {
  if (min >= -(2 ** 31) && max <= 2 ** 31 - 1) return fc.integer({ min, max })
  return fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number)
}

/** Values at the edges of a numeric range that naive code mishandles, kept only when within it. */
const EDGE_NUMBERS = [
  0,
  -0,
  5e-324,
  1e-320,
  1e-14,
  0.1,
  1,
  99.99999999999999,
  100,
  2 ** 31,
  2 ** 53 - 1,
  1e308,
]

function numberBetween(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const low = schema.minimum ?? schema.exclusiveMinimum ?? -Number.MAX_VALUE
  const high = schema.maximum ?? schema.exclusiveMaximum ?? Number.MAX_VALUE
  const inRange = (n: number) =>
    n >= low &&
    n <= high &&
    (schema.exclusiveMinimum === undefined || n > schema.exclusiveMinimum) &&
    (schema.exclusiveMaximum === undefined || n < schema.exclusiveMaximum) &&
    (!integer || Number.isInteger(n))
  const edges = EDGE_NUMBERS.filter(inRange)
  const main = integer
    ? integerBetween(
        Math.ceil(Math.max(low, Number.MIN_SAFE_INTEGER)),
        Math.floor(Math.min(high, Number.MAX_SAFE_INTEGER)),
      )
    : fc.double({ min: low, max: high, noNaN: true, noDefaultInfinity: true }).filter(inRange)
  return edges.length === 0 ? main : fc.oneof({ weight: 3, arbitrary: main }, fc.constantFrom(...edges))
}

/**
 * A fast-check arbitrary of values valid for `schema`. Supports type, enum, const, minimum/maximum,
 * minLength/maxLength, pattern (through fc.stringMatching), format date-time, items/minItems/maxItems,
 * properties/required/additionalProperties, anyOf/oneOf and `$ref`.
 */
export function arbitraryFor(
  schema: JsonSchema,
  options: SchemaArbitraryOptions = {},
): fc.Arbitrary<unknown> {
  const { resolve, extraItems = 4, text = oddText } = options
  if (schema.$ref) {
    if (!resolve) throw new Error(`cannot resolve ${schema.$ref} without options.resolve`)
    return arbitraryFor(resolve(schema.$ref), options)
  }
  if ('const' in schema) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const branches = schema.anyOf ?? schema.oneOf
  if (branches) return fc.oneof(...branches.map((branch) => arbitraryFor(branch, options)))
  if (Array.isArray(schema.type)) {
    return fc.oneof(...schema.type.map((type) => arbitraryFor({ ...schema, type }, options)))
  }

  switch (schema.type) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return fc.boolean()
    case 'integer':
      return numberBetween(schema, true)
    case 'number':
      return numberBetween(schema, false)
    case 'string': {
      const minLength = schema.minLength ?? 0
      const maxLength = schema.maxLength ?? 256
      if (schema.format === 'date-time') return isoTime
      if (schema.pattern) {
        return fc
          .stringMatching(new RegExp(schema.pattern), { maxLength })
          .filter((s) => s.length >= minLength)
      }
      return text({ minLength, maxLength })
    }
    case 'array': {
      const minLength = schema.minItems ?? 0
      const maxLength = Math.min(schema.maxItems ?? Infinity, minLength + extraItems)
      return fc.array(arbitraryFor(schema.items ?? {}, options), { minLength, maxLength })
    }
    case 'object':
      return objectArbitrary(schema, options)
    case undefined:
      // `{}`: any JSON value.
      return metadataValue
    default:
      throw new Error(`no arbitrary for JSON Schema type ${String(schema.type)}`)
  }
}

function objectArbitrary(schema: JsonSchema, options: SchemaArbitraryOptions): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {}
  const names = Object.keys(properties)
  if (names.length === 0) {
    if (schema.additionalProperties === false) return fc.constant({})
    const value =
      typeof schema.additionalProperties === 'object'
        ? arbitraryFor(schema.additionalProperties, options)
        : metadataValue
    return fc.dictionary(metadataKey, value, { maxKeys: 5 })
  }
  const required = new Set(schema.required ?? [])
  const model: Record<string, fc.Arbitrary<unknown>> = {}
  for (const name of names) {
    const override = options.overrides?.[name]
    if (override === null) continue
    model[name] = override ?? arbitraryFor(properties[name]!, options)
  }
  return fc.record(model, { requiredKeys: [...required].filter((name) => name in model) })
}
