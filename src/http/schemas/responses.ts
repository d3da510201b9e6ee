import { z } from 'zod'
import {
  CHANGE_EVENT_TYPES,
  CHILD_FAILURE_POLICIES,
  EVENT_TYPES,
  LOG_LEVELS,
} from '../../domain/status-record'
import { PRIORITY_VALUES, STATUS_VALUES } from '../../domain/transitions'
import { DELIVERY_STATES } from '../../domain/webhook'
import { SCOPES } from '../../services/api-key-service'
import { PrioritySchema, StatusValueSchema } from './status'

// What the routes answer, as it reaches the wire (times are RFC 3339 strings, not Dates). These are
// only rendered into the OpenAPI document; the integration tests hold real answers against that
// document, so a field added, renamed or dropped in a service fails there until it is written here.

const TimeSchema = z.iso.datetime().meta({ examples: ['2026-11-22T10:15:30.123Z'] })
const CountSchema = z.number().int().min(0)
const CursorOutSchema = z
  .string()
  .nullable()
  .meta({ description: 'Pass as `cursor` for the next page; null on the last page' })

export const IssueSchema = z.object({ path: z.string(), message: z.string() }).meta({
  id: 'Issue',
  description: 'One reason a request is not valid; `path` is dotted (`updates.3.status_id`)',
})

export const ProblemSchema = z
  .looseObject({
    type: z.string().meta({ examples: ['/problems/invalid-transition'] }),
    title: z.string().meta({ examples: ['Conflict'] }),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    code: z
      .string()
      .meta({ description: 'Stable kebab-case code to switch on', examples: ['invalid-transition'] }),
    errors: z.array(IssueSchema).optional().meta({ description: 'For `validation-failed`' }),
  })
  .meta({
    id: 'Problem',
    description:
      'RFC 9457 problem details. Some codes add members: `invalid-transition` has `from` and `to`, ' +
      '`version-mismatch` has `expected_version` and `current_version`, `insufficient-scope` has ' +
      '`required_scope`, `status-already-exists` has `status_id`, `events-expired` has `after_seq`, ' +
      '`status-terminal` has `current_status`, `nesting-too-deep` has `max_depth`.',
  })

export const ErrorInfoRecordSchema = z
  .object({
    message: z.string(),
    code: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'ErrorInfo' })

export const ChildrenSummarySchema = z
  .object({
    total: z.number().int().min(1),
    by_status: z
      .partialRecord(StatusValueSchema, z.number().int().min(1))
      .meta({ description: 'Children by state; states with none are left out' }),
    progress_percentage: z
      .number()
      .min(0)
      .max(100)
      .meta({ description: "The weight-weighted mean of the children's progress" }),
  })
  .meta({
    id: 'ChildrenSummary',
    description: 'Kept in the same transaction as every change of a child; null without children',
  })

export const StatusRecordSchema = z
  .object({
    status_id: z.string(),
    kind: z.string().nullable(),
    resource_id: z.string().nullable(),
    status: StatusValueSchema,
    priority: PrioritySchema,
    progress_percentage: z.number().min(0).max(100),
    message: z.string().nullable(),
    steps_completed: z.number().int().nullable(),
    steps_total: z.number().int().nullable(),
    error_info: ErrorInfoRecordSchema.nullable(),
    retry_count: CountSchema,
    max_retries: CountSchema,
    metadata: z.record(z.string(), z.unknown()),
    tags: z.array(z.string()),
    version: z.number().int().min(1).meta({ description: 'Also sent as `ETag: "<version>"`' }),
    created_at: TimeSchema,
    updated_at: TimeSchema,
    started_at: TimeSchema.nullable(),
    completed_at: TimeSchema.nullable(),
    estimated_completion_at: TimeSchema.nullable(),
    heartbeat_timeout_s: z.number().int().min(1).max(86_400).nullable().meta({
      description: 'A `starting` or `processing` status silent for longer has stalled (SPEC §11)',
    }),
    start_by: TimeSchema.nullable().meta({ description: 'Not started by then, it fails (`start-timeout`)' }),
    deadline_at: TimeSchema.nullable().meta({
      description: 'Not finished by then, it fails (`deadline-exceeded`)',
    }),
    last_heartbeat_at: TimeSchema.nullable().meta({
      description: 'The last heartbeat or write after creation',
    }),
    parent_id: z.string().nullable().meta({ description: 'The status this one is a child of (SPEC §12)' }),
    weight: z
      .number()
      .positive()
      .meta({ description: "Its weight in its parent's children.progress_percentage" }),
    on_child_failure: z.enum(CHILD_FAILURE_POLICIES).meta({
      description: '`fail`: the first child that fails fails this status (`child-failed`)',
    }),
    complete_with_children: z.boolean().meta({
      description: 'Once every child is terminal, this status completes (or fails, if one failed)',
    }),
    children: ChildrenSummarySchema.nullable(),
  })
  .meta({ id: 'StatusRecord' })

export const HeartbeatAnswerSchema = z
  .object({
    status_id: z.string(),
    last_heartbeat_at: TimeSchema,
    version: z.number().int().min(1).meta({ description: 'Unchanged by a bare heartbeat' }),
  })
  .meta({ id: 'Heartbeat' })

export const StatusUpdatedSchema = StatusRecordSchema.extend({
  applied: z.boolean().meta({
    description: 'false when `reported_at` was older than the last applied update: nothing changed',
  }),
}).meta({ id: 'StatusUpdated' })

export const StatusPageSchema = z
  .object({
    items: z.array(StatusRecordSchema),
    next_cursor: CursorOutSchema,
    has_more: z.boolean(),
    total: CountSchema.optional().meta({ description: 'With `include_total=true`' }),
  })
  .meta({ id: 'StatusPage' })

const eventEnvelope = {
  event_id: z.uuid(),
  seq: z.number().int().min(1).meta({ description: 'Strictly increasing per tenant, without gaps' }),
  status_id: z.string(),
  version: z.number().int().min(1),
  occurred_at: TimeSchema,
}

export const StatusChangeEventSchema = z
  .object({
    ...eventEnvelope,
    type: z.enum(CHANGE_EVENT_TYPES),
    changes: z
      .record(z.string(), z.tuple([z.unknown(), z.unknown()]))
      .meta({ description: '`[old, new]` for every field that changed' }),
    status: StatusRecordSchema.meta({
      description: 'The record after the change (for a delete, the last one)',
    }),
  })
  .meta({ id: 'StatusChangeEvent' })

export const LogLineSchema = z
  .object({
    at: TimeSchema,
    level: z.enum(LOG_LEVELS),
    message: z.string(),
    fields: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'LogLine' })

export const StatusLogEventSchema = z
  .object({
    ...eventEnvelope,
    type: z.literal('status.log'),
    version: z.number().int().min(1).meta({ description: "The status's version when they were appended" }),
    lines: z.array(LogLineSchema),
  })
  .meta({ id: 'StatusLogEvent', description: 'Lines appended to a status’s log (SPEC §14)' })

export const StatusEventSchema = z
  .discriminatedUnion('type', [StatusChangeEventSchema, StatusLogEventSchema])
  .meta({ id: 'StatusEvent' })

export const LogPageSchema = z
  .object({ items: z.array(LogLineSchema), next_cursor: CursorOutSchema, has_more: z.boolean() })
  .meta({ id: 'LogPage' })

export const HistoryPageSchema = z
  .object({ items: z.array(StatusChangeEventSchema), next_cursor: CursorOutSchema, has_more: z.boolean() })
  .meta({ id: 'HistoryPage' })

export const EventsPageSchema = z
  .object({
    items: z.array(StatusEventSchema),
    next_after_seq: z.number().int().min(0).meta({ description: 'Pass as `after_seq` for the next page' }),
    has_more: z.boolean(),
  })
  .meta({ id: 'EventsPage' })

const ItemErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  errors: z.array(IssueSchema).optional(),
})

const RejectedSchema = z.object({ index: CountSchema, error: ItemErrorSchema })

export const BatchAcceptedSchema = z
  .object({ accepted: CountSchema, rejected: z.array(RejectedSchema) })
  .meta({ id: 'BatchAccepted' })

export const BatchResultSchema = z
  .discriminatedUnion('result', [
    z.object({
      index: CountSchema,
      result: z.literal('applied'),
      status_id: z.string(),
      version: z.number().int(),
    }),
    z.object({ index: CountSchema, result: z.literal('stale'), status_id: z.string() }),
    z.object({
      index: CountSchema,
      result: z.literal('error'),
      status_id: z.string(),
      error: z.object({ code: z.string(), message: z.string() }),
    }),
  ])
  .meta({ id: 'BatchResult' })

export const BatchCommittedSchema = BatchAcceptedSchema.extend({
  results: z.array(BatchResultSchema),
}).meta({ id: 'BatchCommitted' })

export const BulkCancelResultSchema = z.object({ cancelled: CountSchema }).meta({ id: 'BulkCancelResult' })

const countsOf = <T extends string>(keys: readonly T[]) =>
  z.strictObject(Object.fromEntries(keys.map((k) => [k, CountSchema])) as Record<T, typeof CountSchema>)

export const StatsSchema = z
  .object({
    total: CountSchema,
    by_status: countsOf(STATUS_VALUES),
    by_priority: countsOf(PRIORITY_VALUES),
    queue_depth: CountSchema,
    events_per_second: z.number().min(0),
    subscribers: CountSchema,
    updater: z.object({
      queue_capacity: CountSchema,
      flushes: CountSchema,
      updates_written: CountSchema,
      last_flush_ms: z.number().min(0),
      mean_flush_ms: z.number().min(0),
      mean_batch_statuses: z.number().min(0),
    }),
    events: z.object({
      delivered_total: CountSchema,
      dead_lettered_total: CountSchema,
      lag: z.number().int(),
      leases: CountSchema.meta({
        description: '(durable sink, tenant) relay leases this instance holds (docs/storage.md)',
      }),
    }),
  })
  .meta({ id: 'Stats' })

export const ApiKeySchema = z
  .object({
    id: z.string().meta({ examples: ['key_0123456789abcdef'] }),
    tenant_id: z.string(),
    prefix: z.string().meta({ description: 'The first characters of the key, to recognise it' }),
    scopes: z.array(z.enum(SCOPES)),
    created_at: TimeSchema,
    revoked_at: TimeSchema.nullable(),
  })
  .meta({ id: 'ApiKey' })

export const ApiKeyCreatedSchema = ApiKeySchema.extend({
  key: z.string().meta({ description: 'The key itself, shown only in this answer', examples: ['st_3v8Qm…'] }),
}).meta({ id: 'ApiKeyCreated' })

export const ApiKeyListSchema = z.object({ items: z.array(ApiKeySchema) }).meta({ id: 'ApiKeyList' })

export const WebhookSchema = z
  .object({ id: z.uuid(), url: z.string(), events: z.array(z.enum(EVENT_TYPES)), created_at: TimeSchema })
  .meta({ id: 'Webhook' })

export const WebhookCreatedSchema = WebhookSchema.extend({
  secret: z.string().meta({ description: 'The signing secret, shown only in this answer' }),
}).meta({ id: 'WebhookCreated' })

export const WebhookListSchema = z.object({ items: z.array(WebhookSchema) }).meta({ id: 'WebhookList' })

export const DeliverySchema = z
  .object({
    id: z.uuid(),
    webhook_id: z.uuid(),
    event_id: z.uuid(),
    event_type: z.enum(EVENT_TYPES),
    seq: z.number().int().min(1),
    state: z.enum(DELIVERY_STATES),
    attempts: CountSchema,
    last_error: z.string().nullable(),
    next_attempt_at: TimeSchema.nullable(),
    last_attempt_at: TimeSchema.nullable(),
    created_at: TimeSchema,
  })
  .meta({ id: 'Delivery' })

export const DeliveryPageSchema = z
  .object({ items: z.array(DeliverySchema), next_cursor: CursorOutSchema, has_more: z.boolean() })
  .meta({ id: 'DeliveryPage' })

export const HealthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' })
export const ReadySchema = z.object({ status: z.literal('ready') }).meta({ id: 'Ready' })
