import { z } from 'zod'
import type { ZodOpenApiResponseObject } from 'zod-openapi'
import { PROBLEMS, type ProblemCode } from '../errors'
import { StatusRecordSchema, ProblemSchema } from './schemas/responses'
import { IdempotencyKeySchema } from './schemas/status'

// The parts operations' answers are described with (./operation.ts): problem answers described from the
// registry of codes in src/errors.ts, and the headers and records several operations share.

export const json = (schema: z.ZodType) => ({ 'application/json': { schema } })
const problemContent = { 'application/problem+json': { schema: ProblemSchema } }

/**
 * A problem answer of HTTP `status` that carries `codes`, described from the registry in src/errors.ts.
 * A code whose registered status is another is a mistake in this file, caught when the document is built.
 */
export function problem(
  id: string,
  status: number,
  codes: ProblemCode[],
  headers?: z.ZodObject,
): ZodOpenApiResponseObject {
  for (const code of codes) {
    if (PROBLEMS[code].status !== status)
      throw new Error(`${id}: ${code} is a ${PROBLEMS[code].status}, not a ${status}`)
  }
  return {
    id,
    description: codes.map((code) => `\`${code}\`: ${PROBLEMS[code].means}`).join('; '),
    content: problemContent,
    ...(headers && { headers }),
  }
}

// Reused answers, registered once under components.responses.
export const Problems = {
  badRequest: problem('BadRequest', 400, [
    'validation-failed',
    'malformed-json',
    'nesting-too-deep',
    'invalid-cursor',
    'filter-required',
    'bad-request',
  ]),
  unauthenticated: problem('Unauthenticated', 401, ['unauthenticated', 'token-expired']),
  forbidden: problem('Forbidden', 403, ['insufficient-scope']),
  statusNotFound: problem('StatusNotFound', 404, ['status-not-found']),
  webhookNotFound: problem('WebhookNotFound', 404, ['webhook-not-found', 'delivery-not-found']),
  payloadTooLarge: problem('PayloadTooLarge', 413, ['payload-too-large']),
  unsupportedEncoding: problem('UnsupportedEncoding', 415, ['unsupported-encoding']),
  idempotencyReused: problem('IdempotencyKeyReused', 422, ['idempotency-key-reused']),
  /** A waiting read over the key's limit, or any request over its rate limit. */
  tooManyWaiters: problem('TooManyWaiters', 429, ['rate-limited', 'too-many-waiters']),
  rateLimited: problem(
    'RateLimited',
    429,
    ['rate-limited'],
    z.object({
      'Retry-After': z.string().meta({ description: "Seconds until one of the key's tokens is back" }),
      RateLimit: z.string().meta({
        description:
          'IETF draft-8 `RateLimit` header: whole tokens left (`r`) and seconds until the bucket is full again (`t`)',
      }),
      'RateLimit-Policy': z.string().meta({
        description:
          'IETF draft-8 `RateLimit-Policy` header: the bucket (`q`) and seconds to refill it (`w`)',
      }),
    }),
  ),
  unavailable: problem(
    'Unavailable',
    503,
    ['queue-full', 'shutting-down', 'database-unavailable'],
    z.object({ 'Retry-After': z.string().meta({ description: 'Seconds to wait before trying again' }) }),
  ),
  searchTooBroad: problem('SearchTooBroad', 422, ['search-too-broad']),
} satisfies Record<string, ZodOpenApiResponseObject>

export const IdempotencyHeaders = z.object({
  'Idempotency-Key': IdempotencyKeySchema.optional().meta({
    description:
      'Same key and same request within IDEMPOTENCY_TTL_HOURS: the first answer is replayed (with `Idempotent-Replayed: true`); same key, other request: 422',
  }),
})

export const RecordHeaders = z.object({
  ETag: z
    .string()
    .meta({ description: 'The record\'s version as an entity tag, `"<version>"`', examples: ['"3"'] }),
  'Idempotent-Replayed': z
    .literal('true')
    .optional()
    .meta({ description: 'Present when this answer is the replay of an earlier request with the same key' }),
})

export const CreatedHeaders = RecordHeaders.extend({
  Location: z.string().meta({ description: 'The new status', examples: ['/api/status/video-42'] }),
})

export const LocationHeader = z.object({ Location: z.string().meta({ description: 'The created resource' }) })

export const writeConflict = problem('StatusConflict', 409, [
  'invalid-transition',
  'status-terminal',
  'status-already-exists',
  'write-conflict',
  'idempotency-request-in-progress',
  'has-children',
])

/** A create's 422s: a reused Idempotency-Key, or a parent it cannot have (SPEC §12). */
export const createRefused = problem('CreateRefused', 422, ['idempotency-key-reused', 'invalid-parent'])

export const recordAnswer = (description: string): ZodOpenApiResponseObject => ({
  description,
  headers: RecordHeaders,
  content: json(StatusRecordSchema),
})

export const filtersNote =
  'Filters combine with AND across parameters and OR within a comma list (or a repeated parameter). ' +
  'Unknown parameters and bounds that can match nothing are 400.'
