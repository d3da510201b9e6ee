import { Router, type Request, type Response } from 'express'
import type { StatusRecord } from '../../domain/status-record'
import { AppError } from '../../errors'
import type { StatusFilterService } from '../../services/status-filter-service'
import type { StatusService } from '../../services/status-service'
import { requireScope, tenantOf } from '../auth'
import { IdParamsSchema, PageQuerySchema } from '../schemas/common'
import {
  ErrorReportSchema,
  IdempotencyKeySchema,
  IfMatchSchema,
  ListQuerySchema,
  StatusCreateSchema,
  StatusUpdateSchema,
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

export function statusRoutes({
  statuses,
  filters,
}: {
  statuses: StatusService
  filters: StatusFilterService
}) {
  const router = Router()
  const read = requireScope('status:read')
  const write = requireScope('status:write')

  router.get('/', read, async (req, res) => {
    const query = ListQuerySchema.parse(req.query)
    res.json(await filters.list(tenantOf(req), query))
  })

  router.post('/', write, async (req, res) => {
    const body = StatusCreateSchema.parse(req.body)
    const { result, replayed } = await statuses.create(tenantOf(req), body, {
      idempotencyKey: idempotencyKeyOf(req),
    })
    res.status(201).location(`/api/status/${encodeURIComponent(result.status_id)}`)
    sendRecord(res, result, replayed)
  })

  router.get('/:id', read, async (req, res) => {
    const { id } = IdParamsSchema.parse(req.params)
    const record = await statuses.get(tenantOf(req), id)
    if (req.get('if-none-match') === `"${record.version}"`) {
      res.set('ETag', `"${record.version}"`).status(304).end()
      return
    }
    sendRecord(res, record)
  })

  router.put('/:id', write, async (req, res) => {
    const { id } = IdParamsSchema.parse(req.params)
    const { expected_version, ...update } = StatusUpdateSchema.parse(req.body)
    const { result, replayed } = await statuses.update(tenantOf(req), id, update, {
      expectedVersion: expectedVersionOf(req, expected_version),
      idempotencyKey: idempotencyKeyOf(req),
    })
    sendRecord(res, result.status, replayed, { applied: result.applied })
  })

  router.delete('/:id', write, async (req, res) => {
    const { id } = IdParamsSchema.parse(req.params)
    await statuses.remove(tenantOf(req), id)
    res.status(204).end()
  })

  router.post('/:id/errors', write, async (req, res) => {
    const { id } = IdParamsSchema.parse(req.params)
    const { error_info, should_retry } = ErrorReportSchema.parse(req.body)
    const { result, replayed } = await statuses.recordError(tenantOf(req), id, error_info, should_retry, {
      idempotencyKey: idempotencyKeyOf(req),
    })
    sendRecord(res, result, replayed)
  })

  router.post('/:id/cancel', write, async (req, res) => {
    const { id } = IdParamsSchema.parse(req.params)
    const { result, replayed } = await statuses.cancel(tenantOf(req), id, {
      idempotencyKey: idempotencyKeyOf(req),
    })
    sendRecord(res, result, replayed)
  })

  router.get('/:id/history', read, async (req, res) => {
    const { id } = IdParamsSchema.parse(req.params)
    const page = PageQuerySchema.parse(req.query)
    res.json(await statuses.history(tenantOf(req), id, page))
  })

  return router
}
