import { z } from 'zod'
import { createDocument, type ZodOpenApiPathsObject } from 'zod-openapi'
import type { oas31 } from 'zod-openapi'
import { describe, openApiPath } from './operation'
import { batchOperations } from './routes/batch'
import { dashboardOperations } from './routes/dashboard'
import { docsOperations } from './routes/docs'
import { eventOperations, streamOperations } from './routes/events'
import { healthOperations } from './routes/health'
import { keyOperations } from './routes/keys'
import { statsOperations } from './routes/stats'
import { statusOperations } from './routes/status'
import { tokenOperations } from './routes/tokens'
import { webhookOperations } from './routes/webhooks'
import { EVENT_TYPES } from '../domain/status-record'
import { SubscribeSchema } from './schemas/socket'

// The OpenAPI 3.1 description of the HTTP API, assembled from the operations the routes declare
// (./operation.ts): the zod schemas they parse requests with (rendered as their input) and their answers
// from ./schemas/responses (rendered as output) and ./answers.ts.
// tests/integration/openapi.test.ts checks that it lists exactly the routes the app mounts, that it
// is valid OpenAPI 3.1, and that real answers match it.

/** Every operation Express mounts, in the document's order (asked for late: docs.ts, which serves the
 * document, is one of them). */
const declared = () => [
  statusOperations,
  batchOperations,
  eventOperations,
  streamOperations,
  statsOperations,
  keyOperations,
  tokenOperations,
  webhookOperations,
  healthOperations,
  docsOperations,
  dashboardOperations,
]

/** The paths, assembled from the operations' declarations (built on first use: docs.ts serves this). */
function paths(): ZodOpenApiPathsObject {
  const built: ZodOpenApiPathsObject = {}
  for (const operations of declared()) {
    for (const [operationId, operation] of Object.entries(operations)) {
      const item = (built[openApiPath(operation.path)] ??= {})
      if (item[operation.method]) throw new Error(`${operation.method} ${operation.path} is declared twice`)
      item[operation.method] = describe(operationId, operation)
    }
  }
  return built
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
          'X-Event-Type': z.enum(EVENT_TYPES),
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
    'status.bookmark':
      '{ subscription_id, seq }: events up to seq went by that this subscription does not select; resuming with since_seq = seq misses nothing (at most BOOKMARK_INTERVAL_MS, 10 s, after the first such event)',
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
\`{ status_ids?, filter?: { status?, priority?, kind?, stalled?, overdue? }, since_seq? }\`; the ack is
\`{ ok, subscription_id, seq, snapshot?, replayed }\`. Without \`since_seq\` the ack carries a snapshot as of
\`seq\` and live events after it follow; with \`since_seq\` stored events after it are replayed first, then
live ones, in \`seq\` order with no gap and no duplicate. Events arrive as \`status.event\` (a StatusEvent).
A \`since_seq\` outside the kept events gets \`status.resync\`: subscribe again without it. A subscription
that selects is sent \`status.bookmark\` \`{ subscription_id, seq }\` while events it skips go by, so its resume
point moves without matching events.
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
    paths: paths(),
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
