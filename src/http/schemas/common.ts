import { z } from 'zod'

export const StatusIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1–128 characters of A–Z, a–z, 0–9, _ . : -')

export const IdParamsSchema = z.strictObject({ id: StatusIdSchema })

export const LimitSchema = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback)

export const CursorSchema = z.string().min(1).max(4096)

export const PageQuerySchema = z.strictObject({
  limit: LimitSchema(500, 50),
  cursor: CursorSchema.optional(),
})

/** A comma list or a repeated parameter (`?status=a,b` or `?status=a&status=b`), each value from `values`. */
export const csvOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.preprocess(
    (raw) => (Array.isArray(raw) ? raw.join(',') : raw),
    z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.enum(values)).min(1)),
  )

export const single = <T extends z.ZodType>(schema: T) =>
  z.preprocess((raw) => (Array.isArray(raw) ? raw.at(-1) : raw), schema)
