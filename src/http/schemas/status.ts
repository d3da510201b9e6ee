import { z } from 'zod'
import { CHILD_FAILURE_POLICIES, LOG_LEVELS } from '../../domain/status-record'
import { PRIORITY_VALUES, STATUS_VALUES } from '../../domain/transitions'
import { SORT_KEYS, type SortKey, type StatusFilter } from '../../services/status-filter-service'
import {
  CursorSchema,
  FilterTextSchema,
  LimitSchema,
  FilterListValueSchema,
  listOf,
  queryNumber,
  single,
  StatusIdSchema,
} from './common'

export const StatusValueSchema = z.enum(STATUS_VALUES)
export const PrioritySchema = z.enum(PRIORITY_VALUES)

const METADATA_MAX_BYTES = 16 * 1024

export const MetadataSchema = z
  .record(z.string(), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, 'must be at most 16 KiB as JSON')
export const TagsSchema = z.array(z.string().min(1).max(64)).max(20)
const ProgressSchema = z.number().min(0).max(100)
const StepsSchema = z.number().int().min(0).max(1_000_000_000)
const MessageSchema = z.string().max(1024)
/** A time in RFC 3339; whether it must lie ahead is the rules' to say (they know the clock). */
const InstantSchema = z.iso.datetime({ offset: true }).transform((v) => new Date(v))

export const StatusCreateSchema = z.strictObject({
  status_id: StatusIdSchema.optional(),
  kind: z.string().min(1).max(64).optional(),
  resource_id: z.string().min(1).max(128).optional(),
  status: StatusValueSchema.optional(),
  priority: PrioritySchema.optional(),
  progress_percentage: ProgressSchema.optional(),
  message: MessageSchema.optional(),
  steps_completed: StepsSchema.optional(),
  steps_total: StepsSchema.optional(),
  max_retries: z.number().int().min(0).max(100).optional(),
  metadata: MetadataSchema.optional(),
  tags: TagsSchema.optional(),
  heartbeat_timeout_s: z.number().int().min(1).max(86_400).optional(),
  start_by: InstantSchema.optional(),
  deadline_at: InstantSchema.optional(),
  parent_id: StatusIdSchema.optional(),
  weight: z.number().positive().max(1_000_000).optional(),
  on_child_failure: z.enum(CHILD_FAILURE_POLICIES).optional(),
  complete_with_children: z.boolean().optional(),
})
/** A create body as sent (times as RFC 3339 text). */
export type StatusCreate = z.input<typeof StatusCreateSchema>

const UPDATABLE = [
  'new_status',
  'progress_percentage',
  'steps_completed',
  'steps_total',
  'message',
  'metadata',
  'tags',
  'priority',
] as const

export const StatusUpdateSchema = z
  .strictObject({
    new_status: StatusValueSchema.optional(),
    progress_percentage: ProgressSchema.optional(),
    steps_completed: StepsSchema.optional(),
    steps_total: StepsSchema.optional(),
    message: MessageSchema.optional(),
    metadata: MetadataSchema.optional(),
    tags: TagsSchema.optional(),
    priority: PrioritySchema.optional(),
    expected_version: z.number().int().min(1).optional(),
    reported_at: z.iso
      .datetime({ offset: true })
      .transform((s) => new Date(s))
      .optional(),
  })
  .refine((body) => UPDATABLE.some((field) => body[field] !== undefined), {
    message: `at least one of ${UPDATABLE.join(', ')} is required`,
  })
export type StatusUpdate = z.infer<typeof StatusUpdateSchema>

const LOG_PART_MAX_BYTES = 2 * 1024
const bytes = (s: string) => Buffer.byteLength(s)

/** SPEC §14: 1–100 lines; a message and a line's fields at most 2 KiB each (as UTF-8, as JSON). */
export const LogAppendSchema = z.strictObject({
  lines: z
    .array(
      z.strictObject({
        message: z
          .string()
          .min(1)
          .refine((m) => bytes(m) <= LOG_PART_MAX_BYTES, 'must be at most 2 KiB'),
        level: z.enum(LOG_LEVELS).optional(),
        at: InstantSchema.optional(),
        fields: z
          .record(z.string(), z.unknown())
          .refine((f) => bytes(JSON.stringify(f)) <= LOG_PART_MAX_BYTES, 'must be at most 2 KiB as JSON')
          .optional(),
      }),
    )
    .min(1)
    .max(100),
})

/** A heartbeat's optional body: with either field it is an update as well (SPEC §11). */
export const HeartbeatSchema = z
  .strictObject({ progress_percentage: ProgressSchema.optional(), message: MessageSchema.optional() })
  .optional()
  .transform((body) => body ?? {})

/** `GET /api/status/:id?wait=…`: a long poll (SPEC §11). */
export const WaitQuerySchema = z
  .strictObject({
    wait: single(z.enum(['terminal', 'change'])).optional(),
    timeout_s: single(queryNumber(z.coerce.number().int().min(0).max(60))).optional(),
    after_version: single(queryNumber(z.coerce.number().int().min(0))).optional(),
  })
  .superRefine((q, ctx) => {
    for (const key of ['timeout_s', 'after_version'] as const)
      if (q[key] !== undefined && q.wait === undefined)
        ctx.addIssue({ code: 'custom', path: [key], message: 'needs wait' })
    if (q.after_version !== undefined && q.wait !== 'change')
      ctx.addIssue({ code: 'custom', path: ['after_version'], message: 'only with wait=change' })
  })

export const ErrorInfoSchema = z.strictObject({
  message: z.string().min(1).max(1024),
  code: z.string().min(1).max(128).optional(),
  details: z.record(z.string(), z.unknown()).optional(),
})

export const ErrorReportSchema = z.strictObject({
  error_info: z.union([
    z
      .string()
      .min(1)
      .max(1024)
      .transform((message) => ({ message })),
    ErrorInfoSchema,
  ]),
  should_retry: z.boolean().default(false),
})

const SortSchema = z
  .string()
  .default('-updated_at')
  .transform((raw) => ({ key: raw.replace(/^-/, ''), descending: raw.startsWith('-') }))
  .pipe(z.object({ key: z.enum(SORT_KEYS), descending: z.boolean() }))
  .transform((s) => s as { key: SortKey; descending: boolean })

const Percent = z.number().min(0).max(100)
const Time = z.iso.datetime({ offset: true }).transform((v) => new Date(v))

/**
 * The filters of listing, counting and bulk cancel (AND across parameters, OR within a list). In a
 * query every value is text: a list is a comma list or a repeated parameter, and a repeated single value
 * counts its last. A JSON body (bulk cancel's) has the same names in JSON's own types: a list is an
 * array and a percentage a number, taken as they are.
 */
function filterShape(place: 'query' | 'body') {
  const query = place === 'query'
  const list = <T extends z.ZodType<string, string>>(item: T, max?: number) =>
    query ? listOf(item, max) : max === undefined ? z.array(item).min(1) : z.array(item).min(1).max(max)
  const one = <T extends z.ZodType>(schema: T) => (query ? single(schema) : schema)
  const percent = query ? single(queryNumber(z.coerce.number().min(0).max(100))) : Percent
  // Only `true` selects (SPEC §11): `stalled=false` would be every status but a few, not a filter.
  const flag = query ? single(z.literal('true').transform(() => true as const)) : z.literal(true)
  return {
    status: list(z.enum(STATUS_VALUES)).optional(),
    priority: list(z.enum(PRIORITY_VALUES)).optional(),
    kind: one(FilterTextSchema(64)).optional(),
    resource_id: one(FilterTextSchema(128)).optional(),
    parent_id: one(StatusIdSchema).optional(),
    tag: list(FilterListValueSchema(64), 20).optional(),
    progress_gte: percent.optional(),
    progress_lte: percent.optional(),
    created_after: one(Time).optional(),
    created_before: one(Time).optional(),
    updated_after: one(Time).optional(),
    updated_before: one(Time).optional(),
    q: one(FilterTextSchema(128)).optional(),
    stalled: flag.optional(),
    overdue: flag.optional(),
  }
}
const FilterShape = filterShape('query')

type FilterBounds = Pick<
  StatusFilter,
  'progress_gte' | 'progress_lte' | 'created_after' | 'created_before' | 'updated_after' | 'updated_before'
>

/** Bounds that can match nothing are a mistake worth saying so. */
function checkBounds(f: FilterBounds, ctx: z.RefinementCtx) {
  const pairs: [keyof FilterBounds, keyof FilterBounds][] = [
    ['progress_gte', 'progress_lte'],
    ['created_after', 'created_before'],
    ['updated_after', 'updated_before'],
  ]
  for (const [low, high] of pairs) {
    const [a, b] = [f[low], f[high]]
    if (a === undefined || b === undefined) continue
    const empty = low === 'progress_gte' ? Number(a) > Number(b) : Number(a) >= Number(b)
    if (empty) ctx.addIssue({ code: 'custom', path: [low], message: `must be below ${high}` })
  }
}

export const FilterQuerySchema = z.strictObject(FilterShape).superRefine(checkBounds)
export const FilterBodySchema = z.strictObject(filterShape('body')).superRefine(checkBounds)

export const ListQuerySchema = z
  .strictObject({
    ...FilterShape,
    sort: single(SortSchema),
    limit: single(LimitSchema(500, 50)),
    cursor: single(CursorSchema).optional(),
    include_total: single(z.enum(['true', 'false']).transform((v) => v === 'true')).optional(),
  })
  .superRefine(checkBounds)

export const EventsQuerySchema = z.strictObject({
  after_seq: single(queryNumber(z.coerce.number().int().min(0).default(0))),
  limit: single(LimitSchema(1000, 100)),
})

export const StreamQuerySchema = z.strictObject({
  since_seq: single(queryNumber(z.coerce.number().int().min(0))).optional(),
  /** Only these statuses' events (and bookmarks in between); fewer than a query's 1,000 parameters. */
  status_ids: listOf(StatusIdSchema, 500).optional(),
  /** A browser token, for `EventSource`, which cannot set headers (SPEC §13); never an API key. */
  token: single(z.string().startsWith('stt_')).optional(),
})

/** `If-Match: "3"` (also `W/"3"` or a bare 3); `*` matches any version. */
export const IfMatchSchema = z
  .string()
  .trim()
  .regex(/^(\*|(W\/)?"?\d+"?)$/, 'must be an entity tag such as "3"')
  .transform((v) => (v === '*' ? undefined : Number(v.replace(/\D/g, ''))))

export const IdempotencyKeySchema = z.string().min(1).max(255)

export const BatchItemSchema = z
  .strictObject({
    status_id: StatusIdSchema,
    new_status: StatusValueSchema.optional(),
    progress_percentage: ProgressSchema.optional(),
    message: MessageSchema.optional(),
  })
  .refine(
    (item) =>
      item.new_status !== undefined || item.progress_percentage !== undefined || item.message !== undefined,
    {
      message: 'at least one of new_status, progress_percentage, message is required',
    },
  )

const batchOf = <T extends z.ZodType>(item: T) => z.strictObject({ updates: z.array(item).min(1).max(1000) })

/** Items are checked one by one (a bad item is reported by index, the others go ahead). */
export const BatchBodySchema = batchOf(z.unknown())
/** The same envelope with the item schema in place, for the API description. */
export const BatchDescribedSchema = batchOf(BatchItemSchema)

export const BatchQuerySchema = z.strictObject({
  wait: single(z.enum(['true', 'false']).transform((v) => v === 'true')).optional(),
})
