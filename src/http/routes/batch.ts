import { Router } from 'express'
import type { BatchItem, StatusUpdater } from '../../services/status-updater'
import { requireScope, tenantOf } from '../auth'
import { AppError, zodIssues } from '../../errors'
import type { StatusFilterService } from '../../services/status-filter-service'
import {
  BatchBodySchema,
  BatchItemSchema,
  BatchQuerySchema,
  FilterBodySchema,
  FilterQuerySchema,
} from '../schemas/status'

interface Rejected {
  index: number
  error: { code: string; message: string; errors?: { path: string; message: string }[] }
}

/** Bulk operations: `POST /api/status/batch` (up to 1,000 updates) and `POST /api/status/cancel` (by filter). */
export function batchRoutes({ updater, filters }: { updater: StatusUpdater; filters: StatusFilterService }) {
  const router = Router()

  // The filter comes as listing's query parameters, or as a JSON body of the same names; not both.
  router.post('/cancel', requireScope('status:write'), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>
    const fromBody = typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length > 0
    if (fromBody && Object.keys(req.query).length > 0) {
      throw new AppError(
        'validation-failed',
        'Give the filter as query parameters or as a body, not both',
        {},
        [{ path: '', message: 'both query parameters and a body were given' }],
      )
    }
    const filter = fromBody ? FilterBodySchema.parse(body) : FilterQuerySchema.parse(req.query)
    if (Object.keys(filter).length === 0) {
      throw new AppError(
        'filter-required',
        'Bulk cancel needs at least one filter (it never cancels everything)',
      )
    }
    res.json({ cancelled: await filters.cancelMatching(tenantOf(req), filter) })
  })

  router.post('/batch', requireScope('status:write'), async (req, res) => {
    const { wait = false } = BatchQuerySchema.parse(req.query)
    const { updates } = BatchBodySchema.parse(req.body)
    const rejected: Rejected[] = []
    const valid: { index: number; item: BatchItem }[] = []
    updates.forEach((raw, index) => {
      const parsed = BatchItemSchema.safeParse(raw)
      if (parsed.success) valid.push({ index, item: parsed.data })
      else {
        const error = {
          code: 'validation-failed',
          message: 'The update is not valid',
          errors: zodIssues(parsed.error),
        }
        rejected.push({ index, error })
      }
    })

    const submitted = await updater.submit(
      tenantOf(req),
      valid.map((v) => v.item),
    )
    for (const r of submitted.rejected) rejected.push({ index: valid[r.index]!.index, error: r.error })
    rejected.sort((a, b) => a.index - b.index)
    const accepted = submitted.accepted.length

    if (!wait) {
      res.status(202).json({ accepted, rejected })
      return
    }
    const results = await Promise.all(
      submitted.accepted.map(async ({ index, result }) => ({
        index: valid[index]!.index,
        ...(await result),
      })),
    )
    res.status(200).json({ accepted, rejected, results })
  })

  return router
}
