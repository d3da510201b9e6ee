import { Router, type Request, type Response } from 'express'
import { z } from 'zod'
import type { StatusRecord } from '../../domain/status-record'
import { AppError, forbidden } from '../../errors'
import type { StatusFilterService } from '../../services/status-filter-service'
import type { StatusService } from '../../services/status-service'
import {
  createRefused,
  CreatedHeaders,
  filtersNote,
  IdempotencyHeaders,
  json,
  problem,
  Problems,
  RecordHeaders,
  recordAnswer,
  writeConflict,
} from '../answers'
import { checkGrant, tenantOf } from '../auth'
import { mount, operations } from '../operation'
import { IdParamsSchema, LimitSchema, PageQuerySchema, CursorSchema, single } from '../schemas/common'
import {
  HeartbeatAnswerSchema,
  HistoryPageSchema,
  LogPageSchema,
  StatusPageSchema,
  StatusRecordSchema,
  StatusUpdatedSchema,
} from '../schemas/responses'
import {
  ErrorReportSchema,
  HeartbeatSchema,
  IdempotencyKeySchema,
  IfMatchSchema,
  ListQuerySchema,
  LogAppendSchema,
  StatusCreateSchema,
  StatusUpdateSchema,
  WaitQuerySchema,
} from '../schemas/status'

const idempotencyKeyOf = (req: Request) => {
  const raw = req.get('idempotency-key')
  return raw === undefined ? undefined : IdempotencyKeySchema.parse(raw)
}

/** Sends a record with its version as the entity tag; a replayed idempotent answer says so. */
function sendRecord(
  res: Response,
  record: StatusRecord,
  replayed = false,
  extra: Record<string, unknown> = {},
) {
  res.set('ETag', `"${record.version}"`)
  if (replayed) res.set('Idempotent-Replayed', 'true')
  res.json({ ...record, ...extra })
}

/** If-Match and `expected_version` mean the same; when both are given they must agree. */
function expectedVersionOf(req: Request, fromBody: number | undefined): number | undefined {
  const header = req.get('if-match')
  const fromHeader = header === undefined ? undefined : IfMatchSchema.parse(header)
  if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody) {
    throw new AppError('validation-failed', 'If-Match and expected_version disagree', {}, [
      { path: 'expected_version', message: `does not match If-Match (${fromHeader})` },
    ])
  }
  return fromHeader ?? fromBody
}

/** `DELETE …?cascade=true` deletes a status with its descendants. */
const DeleteQuerySchema = z.strictObject({
  cascade: single(z.enum(['true', 'false']))
    .transform((v) => v === 'true')
    .optional(),
})

/** A log is read in pages of up to its whole kept length. */
const LogPageQuerySchema = z.strictObject({ limit: LimitSchema(1000, 100), cursor: CursorSchema.optional() })

/** The single statuses' operations (bulk ones are in ./batch.ts). */
export const statusOperations = operations({
  listStatuses: {
    method: 'get',
    path: '/api/status',
    scope: 'status:read',
    tag: 'Statuses',
    summary: 'List statuses: filter, sort, keyset pages',
    description: `${filtersNote} Follow \`next_cursor\` for the next page; a cursor is bound to its query. A browser token lists the children of a status it covers (\`parent_id\` is then required).`,
    query: ListQuerySchema,
    tokens: true,
    responses: {
      '200': { description: 'One page', content: json(StatusPageSchema) },
      '404': Problems.statusNotFound,
      '422': Problems.searchTooBroad,
    },
  },
  createStatus: {
    method: 'post',
    path: '/api/status',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Create a status',
    description:
      "The id is the client's to choose or the server's to generate; the starting state is `status` (default `pending`). " +
      'With `parent_id` it is a child of that status (SPEC §12): an existing, non-terminal status of the same tenant, ' +
      'at most 5 levels deep (else `422 invalid-parent`), whose `children` summary counts it from this transaction on.',
    headers: IdempotencyHeaders,
    body: StatusCreateSchema,
    responses: {
      '201': { description: 'Created', headers: CreatedHeaders, content: json(StatusRecordSchema) },
      '409': writeConflict,
      '422': createRefused,
    },
  },
  getStatus: {
    method: 'get',
    path: '/api/status/:id',
    scope: 'status:read',
    tag: 'Statuses',
    summary: 'Read one status, or wait for it to finish or change',
    tokens: true,
    description:
      'With `wait=terminal` the answer comes as soon as the status is terminal, with `wait=change` as soon as its `version` is above `after_version` (default: the version now); after `timeout_s` seconds (0–60, default 30) it comes anyway, with the record as it then is and `Status-Wait: timeout`. A shutdown answers waiting reads the same way. Waiters are woken by the event feed, so a write through any instance wakes them. At most 1,000 waiting reads per API key (`too-many-waiters`). A deleted status answers 404.',
    params: IdParamsSchema,
    query: WaitQuerySchema,
    headers: z.object({
      'If-None-Match': z
        .string()
        .optional()
        .meta({ description: 'The ETag you hold: 304 when the status has not changed since' }),
    }),
    responses: {
      '200': {
        ...recordAnswer('The status'),
        headers: RecordHeaders.extend({
          'Status-Wait': z.literal('timeout').optional().meta({
            description: 'A waiting read ended by its timeout (or a shutdown): the condition does not hold',
          }),
        }),
      },
      '304': {
        description: 'Unchanged since the ETag in `If-None-Match`',
        headers: RecordHeaders.pick({ ETag: true }),
      },
      '404': Problems.statusNotFound,
      '429': Problems.tooManyWaiters,
    },
  },
  heartbeatStatus: {
    method: 'post',
    path: '/api/status/:id/heartbeat',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Say the work is alive, and perhaps how far it got',
    description:
      'A bare heartbeat moves `last_heartbeat_at` only: no new version, no event. With `progress_percentage` or `message` it is an update as well. Every accepted write counts as a heartbeat; a `starting` or `processing` status silent for longer than its `heartbeat_timeout_s` has stalled and the service records a `heartbeat-timeout` error for it (SPEC §11). Heartbeats are written many to a transaction, within `UPDATER_FLUSH_MS`.',
    params: IdParamsSchema,
    body: HeartbeatSchema,
    bodyOptional: true,
    responses: {
      '200': { description: 'Recorded', content: json(HeartbeatAnswerSchema) },
      '404': Problems.statusNotFound,
      '409': problem('StatusTerminal', 409, ['status-terminal']),
    },
  },
  updateStatus: {
    method: 'put',
    path: '/api/status/:id',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Update a status: transition, progress, message, metadata, tags, priority',
    description:
      'At least one of `new_status`, `progress_percentage`, `steps_completed`, `steps_total`, `message`, `metadata`, `tags`, `priority`. Optimistic concurrency with `If-Match` or `expected_version` (412 on mismatch). An update with `reported_at` older than the last applied one is ignored and answered 200 with `"applied": false`.',
    params: IdParamsSchema,
    headers: IdempotencyHeaders.extend({
      'If-Match': IfMatchSchema.optional().meta({
        description: 'The version the update expects: `"3"`, `W/"3"` or `3`; `*` matches any',
      }),
    }),
    body: StatusUpdateSchema,
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
  deleteStatus: {
    method: 'delete',
    path: '/api/status/:id',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Delete a status',
    description:
      'Writes a `status.deleted` event; the history stays readable. A status with children is `409 has-children` ' +
      'unless `cascade=true`, which deletes its descendants too in the same transaction (an event each, leaves first).',
    params: IdParamsSchema,
    query: DeleteQuerySchema,
    responses: {
      '204': { description: 'Deleted' },
      '404': Problems.statusNotFound,
      '409': writeConflict,
    },
  },
  recordStatusError: {
    method: 'post',
    path: '/api/status/:id/errors',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Record an error, with or without a retry',
    description:
      '`retry_count` goes up by one; with `should_retry` and retries left the status moves to `retry_pending`, otherwise to `failed`.',
    params: IdParamsSchema,
    headers: IdempotencyHeaders,
    body: ErrorReportSchema,
    responses: {
      '200': recordAnswer('The record after the error'),
      '404': Problems.statusNotFound,
      '409': writeConflict,
      '422': Problems.idempotencyReused,
    },
  },
  cancelStatus: {
    method: 'post',
    path: '/api/status/:id/cancel',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Cancel a live status',
    description:
      'Cancels its non-terminal descendants too, in the same transaction, with an event each (SPEC §12).',
    params: IdParamsSchema,
    headers: IdempotencyHeaders,
    responses: {
      '200': recordAnswer('The cancelled record'),
      '404': Problems.statusNotFound,
      '409': writeConflict,
      '422': Problems.idempotencyReused,
    },
  },
  // GET first: the document lists a path's methods in HTTP's order.
  listStatusLogs: {
    method: 'get',
    path: '/api/status/:id/logs',
    scope: 'status:read',
    tag: 'Statuses',
    summary: "A status's log lines, oldest first",
    params: IdParamsSchema,
    query: LogPageQuerySchema,
    responses: {
      '200': { description: 'One page of lines', content: json(LogPageSchema) },
      '404': Problems.statusNotFound,
    },
  },
  appendStatusLogs: {
    method: 'post',
    path: '/api/status/:id/logs',
    scope: 'status:write',
    tag: 'Statuses',
    summary: "Append lines to a status's log",
    description:
      'Up to 100 lines, each `{ message, level?, at?, fields? }` (message and fields at most 2 KiB each; `level` `info` and `at` the time received by default). Written with other writes, a flush at a time; the answer comes once they are stored. The newest 1,000 lines of each status are kept. Each append is one `status.log` event in the feed (with `lines` in place of `changes` and `status`), live on every channel; webhooks get it only when their `events` name it. It counts as a heartbeat, and is accepted for a finished status too.',
    params: IdParamsSchema,
    body: LogAppendSchema,
    responses: {
      '202': { description: 'Stored', content: json(z.object({ accepted: z.number().int().min(1) })) },
      '404': Problems.statusNotFound,
    },
  },
  getStatusHistory: {
    method: 'get',
    path: '/api/status/:id/history',
    scope: 'status:read',
    tag: 'Statuses',
    summary: "A status's events, oldest first",
    tokens: true,
    description: 'Still readable after the status is deleted.',
    params: IdParamsSchema,
    query: PageQuerySchema,
    responses: {
      '200': { description: 'One page of events', content: json(HistoryPageSchema) },
      '404': Problems.statusNotFound,
    },
  },
})

/** Mounted at `/api`. */
export function statusRoutes({
  statuses,
  filters,
}: {
  statuses: StatusService
  filters: StatusFilterService
}) {
  return mount(Router(), '/api', statusOperations, {
    listStatuses: async ({ query }, req, res) => {
      // A browser token lists the children of a status it covers (SPEC §13), and nothing else.
      if (req.grant) {
        if (query.parent_id === undefined) throw forbidden('status:read')
        await checkGrant(req, query.parent_id)
      }
      res.json(await filters.list(tenantOf(req), query))
    },

    createStatus: async ({ body }, req, res) => {
      const { result, replayed } = await statuses.create(tenantOf(req), body, {
        idempotencyKey: idempotencyKeyOf(req),
      })
      res.status(201).location(`/api/status/${encodeURIComponent(result.status_id)}`)
      sendRecord(res, result, replayed)
    },

    getStatus: async ({ params, query }, req, res) => {
      await checkGrant(req, params.id)
      if (query.wait !== undefined) {
        const { record, timedOut } = await statuses.wait({
          tenantId: tenantOf(req),
          keyId: req.auth!.id,
          statusId: params.id,
          until: query.wait,
          afterVersion: query.after_version,
          timeoutMs: (query.timeout_s ?? 30) * 1000,
        })
        if (timedOut) res.set('Status-Wait', 'timeout')
        sendRecord(res, record)
        return
      }
      const record = await statuses.get(tenantOf(req), params.id)
      if (req.get('if-none-match') === `"${record.version}"`) {
        res.set('ETag', `"${record.version}"`).status(304).end()
        return
      }
      sendRecord(res, record)
    },

    updateStatus: async ({ params, body }, req, res) => {
      const { expected_version, ...update } = body
      const { result, replayed } = await statuses.update(tenantOf(req), params.id, update, {
        expectedVersion: expectedVersionOf(req, expected_version),
        idempotencyKey: idempotencyKeyOf(req),
      })
      sendRecord(res, result.status, replayed, { applied: result.applied })
    },

    heartbeatStatus: async ({ params, body }, req, res) => {
      res.json(await statuses.heartbeat(tenantOf(req), params.id, body))
    },

    deleteStatus: async ({ params, query }, req, res) => {
      await statuses.remove(tenantOf(req), params.id, { cascade: query.cascade })
      res.status(204).end()
    },

    recordStatusError: async ({ params, body }, req, res) => {
      const { error_info, should_retry } = body
      const { result, replayed } = await statuses.recordError(
        tenantOf(req),
        params.id,
        error_info,
        should_retry,
        {
          idempotencyKey: idempotencyKeyOf(req),
        },
      )
      sendRecord(res, result, replayed)
    },

    cancelStatus: async ({ params }, req, res) => {
      const { result, replayed } = await statuses.cancel(tenantOf(req), params.id, {
        idempotencyKey: idempotencyKeyOf(req),
      })
      sendRecord(res, result, replayed)
    },

    appendStatusLogs: async ({ params, body }, req, res) => {
      res.status(202).json(await statuses.appendLogs(tenantOf(req), params.id, body.lines))
    },

    listStatusLogs: async ({ params, query }, req, res) => {
      res.json(await statuses.logs(tenantOf(req), params.id, query))
    },

    getStatusHistory: async ({ params, query }, req, res) => {
      await checkGrant(req, params.id)
      res.json(await statuses.history(tenantOf(req), params.id, query))
    },
  })
}
