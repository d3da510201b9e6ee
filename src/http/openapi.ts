import { z } from 'zod'
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi'
import type { oas31 } from 'zod-openapi'
import { SubscribeSchema } from './schemas/socket'
import { PROBLEMS, type ProblemCode } from '../errors'
import type { Scope } from '../services/api-key-service'
import { IdParamsSchema, PageQuerySchema } from './schemas/common'
import { KeyCreateSchema, KeyParamsSchema } from './schemas/keys'
import {
  ApiKeyCreatedSchema,
  ApiKeyListSchema,
  BatchAcceptedSchema,
  BatchCommittedSchema,
  BulkCancelResultSchema,
  DeliveryPageSchema,
  DeliverySchema,
  EventsPageSchema,
  HealthSchema,
  HistoryPageSchema,
  ProblemSchema,
  ReadySchema,
  StatsSchema,
  StatusEventSchema,
  StatusPageSchema,
  StatusRecordSchema,
  StatusUpdatedSchema,
  WebhookCreatedSchema,
  WebhookListSchema,
  WebhookSchema,
} from './schemas/responses'
import {
  BatchDescribedSchema,
  BatchQuerySchema,
  ErrorReportSchema,
  EventsQuerySchema,
  FilterBodySchema,
  FilterQuerySchema,
  IdempotencyKeySchema,
  IfMatchSchema,
  ListQuerySchema,
  StatusCreateSchema,
  StatusUpdateSchema,
  StreamQuerySchema,
} from './schemas/status'
import {
  DeliveryParamsSchema,
  DeliveryQuerySchema,
  WebhookCreateSchema,
  WebhookParamsSchema,
} from './schemas/webhooks'

// The OpenAPI 3.1 description of the HTTP API, built from the same zod schemas the routes parse
// requests with (rendered as their input) and from ./schemas/responses (rendered as output).
// tests/integration/openapi.test.ts checks that it lists exactly the routes the app mounts, that it
// is valid OpenAPI 3.1, and that real answers match it.

const json = (schema: z.ZodType) => ({ 'application/json': { schema } })
const problemContent = { 'application/problem+json': { schema: ProblemSchema } }

/**
 * A problem answer of HTTP `status` that carries `codes`, described from the registry in src/errors.ts.
 * A code whose registered status is another is a mistake in this file, caught when the document is built.
 */
function problem(
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
const Problems = {
  badRequest: problem('BadRequest', 400, [
    'validation-failed',
    'malformed-json',
    'nesting-too-deep',
    'invalid-cursor',
    'filter-required',
    'bad-request',
  ]),
  unauthenticated: problem('Unauthenticated', 401, ['unauthenticated']),
  forbidden: problem('Forbidden', 403, ['insufficient-scope']),
  statusNotFound: problem('StatusNotFound', 404, ['status-not-found']),
  webhookNotFound: problem('WebhookNotFound', 404, ['webhook-not-found', 'delivery-not-found']),
  payloadTooLarge: problem('PayloadTooLarge', 413, ['payload-too-large']),
  unsupportedEncoding: problem('UnsupportedEncoding', 415, ['unsupported-encoding']),
  idempotencyReused: problem('IdempotencyKeyReused', 422, ['idempotency-key-reused']),
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

const security = (scope: Scope): oas31.SecurityRequirementObject[] => [
  { bearerAuth: [scope] },
  { apiKeyHeader: [scope] },
]

interface Route {
  tag: string
  summary: string
  operationId: string
  description?: string
}

/** An `/api` operation: needs a key with `scope`, may be refused by auth and the rate limit. */
function api(
  scope: Scope,
  route: Route,
  operation: Pick<ZodOpenApiOperationObject, 'requestParams' | 'requestBody'> & {
    responses: ZodOpenApiResponsesObject
  },
): ZodOpenApiOperationObject {
  const takesInput = Boolean(operation.requestBody || operation.requestParams)
  return {
    tags: [route.tag],
    summary: route.summary,
    operationId: route.operationId,
    ...(route.description && { description: route.description }),
    security: security(scope),
    'x-required-scope': scope,
    ...operation,
    responses: {
      ...operation.responses,
      ...(takesInput && { '400': Problems.badRequest }),
      '401': Problems.unauthenticated,
      '403': Problems.forbidden,
      ...(operation.requestBody && { '413': Problems.payloadTooLarge, '415': Problems.unsupportedEncoding }),
      '429': Problems.rateLimited,
      '503': Problems.unavailable,
    },
  }
}

/** A public operation outside `/api`: no key, no rate limit. */
const open = (route: Route, responses: ZodOpenApiResponsesObject): ZodOpenApiOperationObject => ({
  tags: [route.tag],
  summary: route.summary,
  operationId: route.operationId,
  ...(route.description && { description: route.description }),
  security: [],
  responses,
})

const jsonBody = (schema: z.ZodType, description?: string) => ({
  required: true,
  ...(description && { description }),
  content: json(schema),
})

const IdempotencyHeaders = z.object({
  'Idempotency-Key': IdempotencyKeySchema.optional().meta({
    description:
      'Same key and same request within IDEMPOTENCY_TTL_HOURS: the first answer is replayed (with `Idempotent-Replayed: true`); same key, other request: 422',
  }),
})

const RecordHeaders = z.object({
  ETag: z
    .string()
    .meta({ description: 'The record\'s version as an entity tag, `"<version>"`', examples: ['"3"'] }),
  'Idempotent-Replayed': z
    .literal('true')
    .optional()
    .meta({ description: 'Present when this answer is the replay of an earlier request with the same key' }),
})

const CreatedHeaders = RecordHeaders.extend({
  Location: z.string().meta({ description: 'The new status', examples: ['/api/status/video-42'] }),
})

const LocationHeader = z.object({ Location: z.string().meta({ description: 'The created resource' }) })

const writeConflict = problem('StatusConflict', 409, [
  'invalid-transition',
  'status-terminal',
  'status-already-exists',
  'write-conflict',
  'idempotency-request-in-progress',
])

const recordAnswer = (description: string): ZodOpenApiResponseObject => ({
  description,
  headers: RecordHeaders,
  content: json(StatusRecordSchema),
})

const filtersNote =
  'Filters combine with AND across parameters and OR within a comma list (or a repeated parameter). ' +
  'Unknown parameters and bounds that can match nothing are 400.'

const paths: ZodOpenApiPathsObject = {
  '/api/status': {
    get: api(
      'status:read',
      {
        tag: 'Statuses',
        summary: 'List statuses: filter, sort, keyset pages',
        operationId: 'listStatuses',
        description: `${filtersNote} Follow \`next_cursor\` for the next page; a cursor is bound to its query.`,
      },
      {
        requestParams: { query: ListQuerySchema },
        responses: {
          '200': { description: 'One page', content: json(StatusPageSchema) },
          '422': Problems.searchTooBroad,
        },
      },
    ),
    post: api(
      'status:write',
      {
        tag: 'Statuses',
        summary: 'Create a status',
        operationId: 'createStatus',
        description:
          "The id is the client's to choose or the server's to generate; the starting state is `status` (default `pending`).",
      },
      {
        requestParams: { header: IdempotencyHeaders },
        requestBody: jsonBody(StatusCreateSchema),
        responses: {
          '201': { description: 'Created', headers: CreatedHeaders, content: json(StatusRecordSchema) },
          '409': writeConflict,
          '422': Problems.idempotencyReused,
        },
      },
    ),
  },
  '/api/status/batch': {
    post: api(
      'status:write',
      {
        tag: 'Statuses',
        summary: 'Queue up to 1,000 updates through the batched updater',
        operationId: 'batchUpdateStatuses',
        description:
          'Each item needs at least one of `new_status`, `progress_percentage`, `message`. Items are checked one by one: a bad item or an unknown `status_id` is listed in `rejected` by index and the others go ahead. ' +
          'Without `wait`, 202 once queued (in memory); with `wait=true`, 200 once committed, with a result per item.',
      },
      {
        requestParams: { query: BatchQuerySchema },
        requestBody: jsonBody(BatchDescribedSchema),
        responses: {
          '200': { description: 'With `wait=true`: committed', content: json(BatchCommittedSchema) },
          '202': { description: 'Queued', content: json(BatchAcceptedSchema) },
          '503': Problems.unavailable,
        },
      },
    ),
  },
  '/api/status/cancel': {
    post: api(
      'status:write',
      {
        tag: 'Statuses',
        summary: 'Cancel every live status a filter selects',
        operationId: 'bulkCancelStatuses',
        description: `The filter comes as query parameters or as a JSON body of the same names, not both, and needs at least one filter (\`filter-required\`). ${filtersNote}`,
      },
      {
        requestParams: { query: FilterQuerySchema },
        requestBody: { required: false, content: json(FilterBodySchema) },
        responses: {
          '200': { description: 'How many were cancelled', content: json(BulkCancelResultSchema) },
          '422': Problems.searchTooBroad,
          '503': Problems.unavailable,
        },
      },
    ),
  },
  '/api/status/{id}': {
    get: api(
      'status:read',
      { tag: 'Statuses', summary: 'Read one status', operationId: 'getStatus' },
      {
        requestParams: {
          path: IdParamsSchema,
          header: z.object({
            'If-None-Match': z
              .string()
              .optional()
              .meta({ description: 'The ETag you hold: 304 when the status has not changed since' }),
          }),
        },
        responses: {
          '200': recordAnswer('The status'),
          '304': {
            description: 'Unchanged since the ETag in `If-None-Match`',
            headers: RecordHeaders.pick({ ETag: true }),
          },
          '404': Problems.statusNotFound,
        },
      },
    ),
    put: api(
      'status:write',
      {
        tag: 'Statuses',
        summary: 'Update a status: transition, progress, message, metadata, tags, priority',
        operationId: 'updateStatus',
        description:
          'At least one of `new_status`, `progress_percentage`, `steps_completed`, `steps_total`, `message`, `metadata`, `tags`, `priority`. Optimistic concurrency with `If-Match` or `expected_version` (412 on mismatch). An update with `reported_at` older than the last applied one is ignored and answered 200 with `"applied": false`.',
      },
      {
        requestParams: {
          path: IdParamsSchema,
          header: IdempotencyHeaders.extend({
            'If-Match': IfMatchSchema.optional().meta({
              description: 'The version the update expects: `"3"`, `W/"3"` or `3`; `*` matches any',
            }),
          }),
        },
        requestBody: jsonBody(StatusUpdateSchema),
        responses: {
          '200': {
            description: 'The record after the update',
            headers: RecordHeaders,
            content: json(StatusUpdatedSchema),
          },
          '404': Problems.statusNotFound,
          '409': writeConflict,
          '412': problem('VersionMismatch', 412, ['version-mismatch']),
          '422': Problems.idempotencyReused,
        },
      },
    ),
    delete: api(
      'status:write',
      {
        tag: 'Statuses',
        summary: 'Delete a status',
        operationId: 'deleteStatus',
        description: 'Writes a `status.deleted` event; the history stays readable.',
      },
      {
        requestParams: { path: IdParamsSchema },
        responses: {
          '204': { description: 'Deleted' },
          '404': Problems.statusNotFound,
          '409': writeConflict,
        },
      },
    ),
  },
  '/api/status/{id}/errors': {
    post: api(
      'status:write',
      {
        tag: 'Statuses',
        summary: 'Record an error, with or without a retry',
        operationId: 'recordStatusError',
        description:
          '`retry_count` goes up by one; with `should_retry` and retries left the status moves to `retry_pending`, otherwise to `failed`.',
      },
      {
        requestParams: { path: IdParamsSchema, header: IdempotencyHeaders },
        requestBody: jsonBody(ErrorReportSchema),
        responses: {
          '200': recordAnswer('The record after the error'),
          '404': Problems.statusNotFound,
          '409': writeConflict,
          '422': Problems.idempotencyReused,
        },
      },
    ),
  },
  '/api/status/{id}/cancel': {
    post: api(
      'status:write',
      { tag: 'Statuses', summary: 'Cancel a live status', operationId: 'cancelStatus' },
      {
        requestParams: { path: IdParamsSchema, header: IdempotencyHeaders },
        responses: {
          '200': recordAnswer('The cancelled record'),
          '404': Problems.statusNotFound,
          '409': writeConflict,
          '422': Problems.idempotencyReused,
        },
      },
    ),
  },
  '/api/status/{id}/history': {
    get: api(
      'status:read',
      {
        tag: 'Statuses',
        summary: "A status's events, oldest first",
        operationId: 'getStatusHistory',
        description: 'Still readable after the status is deleted.',
      },
      {
        requestParams: { path: IdParamsSchema, query: PageQuerySchema },
        responses: {
          '200': { description: 'One page of events', content: json(HistoryPageSchema) },
          '404': Problems.statusNotFound,
        },
      },
    ),
  },
  '/api/events': {
    get: api(
      'status:read',
      {
        tag: 'Events',
        summary: "The tenant's event feed in `seq` order, for catch-up consumers",
        operationId: 'listEvents',
      },
      {
        requestParams: { query: EventsQuerySchema },
        responses: {
          '200': { description: 'Events after `after_seq`', content: json(EventsPageSchema) },
          '410': problem('EventsExpired', 410, ['events-expired']),
        },
      },
    ),
  },
  '/api/events/stream': {
    get: api(
      'status:read',
      {
        tag: 'Events',
        summary: 'The same feed as Server-Sent Events, replayed then live',
        operationId: 'streamEvents',
        description:
          'Each event is sent as `id: <seq>`, `event: status.event`, `data: <StatusEvent JSON>`. ' +
          'Starts after `Last-Event-ID` (what browsers send on reconnect), else after `since_seq`, else live from now. ' +
          'A comment heartbeat every 15 s; `status.resync` (`{ since_seq, seq }`: the start point is outside the kept events) ' +
          'and `status.overflow` (a slow reader) end the stream.',
      },
      {
        requestParams: {
          query: StreamQuerySchema,
          header: z.object({
            'Last-Event-ID': z
              .string()
              .optional()
              .meta({ description: 'The last `seq` received; wins over `since_seq`' }),
          }),
        },
        responses: {
          '200': {
            description: 'An endless `text/event-stream`',
            content: {
              'text/event-stream': {
                schema: z.string().meta({ description: 'Server-Sent Events whose data is a StatusEvent' }),
              },
            },
          },
        },
      },
    ),
  },
  '/api/stats': {
    get: api(
      'status:read',
      {
        tag: 'Events',
        summary: "Counts by status and priority, and this instance's queue, event rate and subscribers",
        operationId: 'getStats',
        description: `Counts follow the same filters as listing. ${filtersNote}`,
      },
      {
        requestParams: { query: FilterQuerySchema },
        responses: {
          '200': { description: 'Counts and gauges', content: json(StatsSchema) },
          '422': Problems.searchTooBroad,
        },
      },
    ),
  },
  '/api/keys': {
    get: api(
      'admin',
      { tag: 'Keys', summary: "The tenant's API keys, revoked ones included", operationId: 'listKeys' },
      { responses: { '200': { description: 'Keys, oldest first', content: json(ApiKeyListSchema) } } },
    ),
    post: api(
      'admin',
      { tag: 'Keys', summary: "Create an API key in the caller's tenant", operationId: 'createKey' },
      {
        requestBody: jsonBody(KeyCreateSchema),
        responses: {
          '201': {
            description: 'Created; `key` is shown only here',
            headers: LocationHeader,
            content: json(ApiKeyCreatedSchema),
          },
        },
      },
    ),
  },
  '/api/keys/{id}': {
    delete: api(
      'admin',
      { tag: 'Keys', summary: 'Revoke an API key', operationId: 'revokeKey' },
      {
        requestParams: { path: KeyParamsSchema },
        responses: {
          '204': { description: 'Revoked' },
          '404': problem('KeyNotFound', 404, ['not-found']),
        },
      },
    ),
  },
  '/api/webhooks': {
    get: api(
      'admin',
      { tag: 'Webhooks', summary: "The tenant's webhooks", operationId: 'listWebhooks' },
      { responses: { '200': { description: 'Webhooks, oldest first', content: json(WebhookListSchema) } } },
    ),
    post: api(
      'admin',
      {
        tag: 'Webhooks',
        summary: "Register a URL for signed POSTs of the tenant's events",
        operationId: 'createWebhook',
        description:
          'See the `statusEvent` webhook for what is sent. The secret (given or generated) is shown only in this answer.',
      },
      {
        requestBody: jsonBody(WebhookCreateSchema),
        responses: {
          '201': { description: 'Created', headers: LocationHeader, content: json(WebhookCreatedSchema) },
        },
      },
    ),
  },
  '/api/webhooks/{id}': {
    get: api(
      'admin',
      { tag: 'Webhooks', summary: 'Read one webhook', operationId: 'getWebhook' },
      {
        requestParams: { path: WebhookParamsSchema },
        responses: {
          '200': { description: 'The webhook', content: json(WebhookSchema) },
          '404': Problems.webhookNotFound,
        },
      },
    ),
    delete: api(
      'admin',
      {
        tag: 'Webhooks',
        summary: 'Delete a webhook and its deliveries',
        operationId: 'deleteWebhook',
      },
      {
        requestParams: { path: WebhookParamsSchema },
        responses: { '204': { description: 'Deleted' }, '404': Problems.webhookNotFound },
      },
    ),
  },
  '/api/webhooks/{id}/deliveries': {
    get: api(
      'admin',
      { tag: 'Webhooks', summary: "A webhook's deliveries, newest first", operationId: 'listDeliveries' },
      {
        requestParams: { path: WebhookParamsSchema, query: DeliveryQuerySchema },
        responses: {
          '200': { description: 'One page of deliveries', content: json(DeliveryPageSchema) },
          '404': Problems.webhookNotFound,
        },
      },
    ),
  },
  '/api/webhooks/{id}/deliveries/{delivery_id}/retry': {
    post: api(
      'admin',
      {
        tag: 'Webhooks',
        summary: 'Send a dead or delivered delivery once more',
        operationId: 'retryDelivery',
      },
      {
        requestParams: { path: DeliveryParamsSchema },
        responses: {
          '202': { description: 'Pending again, due now', content: json(DeliverySchema) },
          '404': Problems.webhookNotFound,
          '409': problem('DeliveryPending', 409, ['delivery-pending']),
        },
      },
    ),
  },
  '/health': {
    get: open(
      { tag: 'Operations', summary: 'Liveness', operationId: 'health' },
      { '200': { description: 'The process is up', content: json(HealthSchema) } },
    ),
  },
  '/ready': {
    get: open(
      { tag: 'Operations', summary: 'Readiness: the database answers', operationId: 'ready' },
      {
        '200': { description: 'Ready', content: json(ReadySchema) },
        '503': problem('NotReady', 503, ['not-ready']),
      },
    ),
  },
  '/metrics': {
    get: open(
      { tag: 'Operations', summary: 'Prometheus metrics', operationId: 'metrics' },
      {
        '200': {
          description: 'Prometheus text exposition format',
          content: { 'text/plain': { schema: z.string() } },
        },
      },
    ),
  },
  '/openapi.json': {
    get: open(
      { tag: 'Documentation', summary: 'This document', operationId: 'openapi' },
      {
        '200': {
          description: 'OpenAPI 3.1',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
      },
    ),
  },
  '/docs': {
    get: open(
      {
        tag: 'Documentation',
        summary: 'Interactive documentation of this document (Swagger UI, served locally)',
        operationId: 'docs',
      },
      { '200': { description: 'An HTML page', content: { 'text/html': { schema: z.string() } } } },
    ),
  },
  ...Object.fromEntries(
    ['/', '/index.html'].map((route) => [
      route,
      {
        get: open(
          {
            tag: 'Dashboard',
            summary: 'The dashboard: asks for an API key, then lists and follows statuses live',
            operationId: route === '/' ? 'dashboard' : 'dashboardIndex',
          },
          {
            '200': { description: 'An HTML page', content: { 'text/html': { schema: z.string() } } },
            '503': {
              description: 'The dashboard is not built: a page saying to run `npm run build`',
              content: { 'text/html': { schema: z.string() } },
            },
          },
        ),
      },
    ]),
  ),
}

const webhooks: ZodOpenApiPathsObject = {
  statusEvent: {
    post: {
      summary: 'What a webhook receives: one event per POST',
      operationId: 'statusEventWebhook',
      description:
        'Any 2xx within WEBHOOK_TIMEOUT_MS delivers it; anything else is retried with exponential backoff and jitter, ' +
        'then the delivery is dead. Delivered at least once and in no guaranteed order: dedupe by `X-Delivery-Id` or ' +
        '`event_id`, order by `seq` (per tenant) and `version` (per status).',
      requestParams: {
        header: z.object({
          'X-Signature': z.string().meta({
            description:
              "`sha256=` and the hex HMAC-SHA256 of the exact body bytes, keyed with the webhook's secret",
          }),
          'X-Delivery-Id': z.uuid().meta({ description: 'The same on every attempt of one delivery' }),
          'X-Event-Id': z.uuid(),
          'X-Event-Type': StatusEventSchema.shape.type,
        }),
      },
      // What we send is an answer of ours: point at the response rendering of the event rather than
      // let it be rendered a second time as a request body (which would name it StatusEventInput).
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/StatusEvent' } } },
      },
      responses: { '2XX': { description: 'Delivered' } },
    },
  },
}

// OpenAPI has no words for a Socket.IO protocol; it is told in prose and in `x-socket-io`, whose
// subscribe payload is the zod schema the socket server parses it with (components.schemas.SocketSubscribe).
const socketIo = {
  namespace: '/status',
  auth: 'Handshake `auth: { token: "<api key>" }` (or an `X-API-Key` header); the key needs `status:read`. A bad key is refused at the handshake with `data.code` `unauthenticated` or `insufficient-scope`.',
  clientEvents: {
    subscribe: {
      payload: { $ref: '#/components/schemas/SocketSubscribe' },
      ack: '{ ok: true, subscription_id, seq, snapshot?: StatusRecord[], replayed } or { ok: false, error: { code, message, errors? } }; `resync-required` when since_seq is outside the stored events',
    },
    unsubscribe: { payload: '{ subscription_id }', ack: '{ ok } or { ok: false, error }' },
  },
  serverEvents: {
    'status.event': { $ref: '#/components/schemas/StatusEvent' },
    'status.resync':
      '{ since_seq, seq, reason }: since_seq is outside the stored events; subscribe again without it',
    'status.overflow':
      '{ subscription_id, reason }: too many packets queued unread; the connection is closed, reconnect with since_seq',
  },
}

const description = `Tracks long-running units of work ("statuses") for producers and consumers.

Every \`/api\` route needs an API key, as \`Authorization: Bearer <key>\` or \`X-API-Key: <key>\`, with the
scope the operation names (\`status:read\`, \`status:write\`, \`admin\`; \`admin\` includes the others).
Keys belong to one tenant and never see another's data. Errors are RFC 9457 \`application/problem+json\`
with a stable \`code\`. Unknown body fields and query parameters are refused (400); any route may also
answer \`500 internal-error\`, and an unknown route is \`404 route-not-found\`.

**Realtime over Socket.IO** (not expressible in OpenAPI; also in \`x-socket-io\`): connect to the namespace
\`/status\` with \`auth: { token: "<api key>" }\`. Emit \`subscribe\` with
\`{ status_ids?, filter?: { status?, priority?, kind? }, since_seq? }\`; the ack is
\`{ ok, subscription_id, seq, snapshot?, replayed }\`. Without \`since_seq\` the ack carries a snapshot as of
\`seq\` and live events after it follow; with \`since_seq\` stored events after it are replayed first, then
live ones, in \`seq\` order with no gap and no duplicate. Events arrive as \`status.event\` (a StatusEvent).
A \`since_seq\` outside the kept events gets \`status.resync\`: subscribe again without it.
\`unsubscribe\` takes \`{ subscription_id }\`. The same feed is offered as Server-Sent Events at
\`GET /api/events/stream\`.`

export function buildOpenApiDocument(): oas31.OpenAPIObject {
  return createDocument({
    openapi: '3.1.0',
    // The version of this description of the API (OpenAPI's info.version), not of the package.
    info: { title: 'Status Tracker', version: '1.0.0', description },
    tags: [
      { name: 'Statuses', description: 'Create, update, read, list and cancel statuses' },
      { name: 'Events', description: 'The event feed, its stream, and counts' },
      { name: 'Keys', description: "API keys of the caller's tenant (admin)" },
      { name: 'Webhooks', description: "Signed POSTs of the tenant's events (admin)" },
      { name: 'Operations', description: 'Health, readiness, metrics; no key needed' },
      { name: 'Documentation', description: 'This document and its interactive page' },
      { name: 'Dashboard', description: 'The live dashboard page; its assets are served under /assets' },
    ],
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    paths,
    webhooks,
    components: {
      schemas: { SocketSubscribe: SubscribeSchema.meta({ unusedIO: 'input' }) },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: '`Authorization: Bearer <key>`' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
    'x-socket-io': socketIo,
  })
}
