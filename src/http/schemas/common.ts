import { z } from 'zod'

export const StatusIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1–128 characters of A–Z, a–z, 0–9, _ . : -')

export const IdParamsSchema = z.strictObject({ id: StatusIdSchema })

/**
 * A number from a query string (or bulk cancel's JSON body of the same names). `Number('')`, `Number(' ')`
 * and `Number(null)` are 0 and `Number(true)` is 1, so `?after_seq=` or `{"progress_gte": null}` would
 * silently mean 0: only a number or a non-blank string is coerced, anything else is refused.
 */
export const queryNumber = <T extends z.ZodType>(schema: T) =>
  z.preprocess(
    (raw) =>
      raw === undefined || typeof raw === 'number' || (typeof raw === 'string' && raw.trim() !== '')
        ? raw
        : Number.NaN,
    schema,
  )

export const LimitSchema = (max: number, fallback: number) =>
  queryNumber(z.coerce.number().int().min(1).max(max).default(fallback))

export const CursorSchema = z.string().min(1).max(4096)

/**
 * Text a filter compares with stored text. U+0000 is refused as in bodies (no status can hold it):
 * SQLite's string functions stop at it, so `q=%00` matched every status, and PostgreSQL refuses it.
 */
export const FilterTextSchema = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    // The pattern also tells the API description's readers; a NUL in a regex literal is what it means here.
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000]*$/, 'must not contain U+0000 (NUL)')

/**
 * One value of a comma list (`listOf`), as the API description tells it: no comma (a comma separates
 * values) and something other than spaces (spaces around a value are dropped). The split has already
 * made every value so; a list whose values were all spaces and commas names none, and is refused.
 */
export const FilterListValueSchema = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000,]*[^\s,\u0000][^\u0000,]*$/, 'must be more than spaces, with no comma or U+0000 (NUL)')

export const PageQuerySchema = z.strictObject({
  limit: LimitSchema(500, 50),
  cursor: CursorSchema.optional(),
})

const splitList = (s: string) =>
  s
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)

/**
 * A comma list or a repeated parameter (`?tag=a,b` or `?tag=a&tag=b`), each value checked by `item`.
 * Its API description says what it is on the wire, an array (OpenAPI's default for a query array is
 * the repeated parameter), rather than the bare string zod sees before the split.
 */
export const listOf = <T extends z.ZodType<string, string>>(item: T, maxItems?: number) => {
  const list = z.array(item).min(1, 'must name at least one value (spaces and commas only separate values)')
  const { $schema: _, ...items } = z.toJSONSchema(item, { io: 'input' })
  return z
    .preprocess(
      // A repeated parameter arrives as strings; anything else in an array (a JSON body's) stays an array
      // and is refused as not a string, rather than joined as "[object Object]".
      (raw) => (Array.isArray(raw) && raw.every((v) => typeof v === 'string') ? raw.join(',') : raw),
      z
        .string()
        .transform(splitList)
        .pipe(maxItems === undefined ? list : list.max(maxItems)),
    )
    .meta({
      override: {
        type: 'array',
        items,
        minItems: 1,
        ...(maxItems !== undefined && { maxItems }),
        description: 'Any of these: the parameter repeated, or one comma-separated list (`a,b`)',
      },
    })
}

/**
 * A single-valued query parameter: when repeated the last value is used, but every value must be valid,
 * so `?limit=abc&limit=5` is refused rather than the bad value silently dropped.
 */
export const single = <T extends z.ZodType>(schema: T) =>
  z.preprocess((raw, ctx) => {
    if (!Array.isArray(raw)) return raw
    for (const earlier of raw.slice(0, -1)) {
      const parsed = schema.safeParse(earlier)
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          ctx.addIssue({ code: 'custom', message: `${issue.message} (in a repeated value)`, input: earlier })
        }
      }
    }
    return raw.at(-1)
  }, schema)
