import { Router } from 'express'
import type { BatchItem, StatusUpdater } from '../../services/status-updater'
import { filtersNote, json, Problems } from '../answers'
import { tenantOf } from '../auth'
import { AppError, zodIssues } from '../../errors'
import type { StatusFilterService } from '../../services/status-filter-service'
import { mount, operations } from '../operation'
import { BatchAcceptedSchema, BatchCommittedSchema, BulkCancelResultSchema } from '../schemas/responses'
import {
  BatchBodySchema,
  BatchDescribedSchema,
  BatchItemSchema,
  BatchQuerySchema,
  FilterBodySchema,
  FilterQuerySchema,
} from '../schemas/status'

interface Rejected {
  index: number
  error: { code: string; message: string; errors?: { path: string; message: string }[] }
}

/** Bulk operations: up to 1,000 updates at once, and cancelling by filter. */
export const batchOperations = operations({
  batchUpdateStatuses: {
    method: 'post',
    path: '/api/status/batch',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Queue up to 1,000 updates through the batched updater',
    description:
      'Each item needs at least one of `new_status`, `progress_percentage`, `message`. Items are checked one by one: a bad item or an unknown `status_id` is listed in `rejected` by index and the others go ahead. ' +
      'Without `wait`, 202 once queued (in memory); with `wait=true`, 200 once committed, with a result per item.',
    query: BatchQuerySchema,
    // Only the envelope is checked up front; each item is checked on its own below.
    body: BatchBodySchema,
    documentedBody: BatchDescribedSchema,
    responses: {
      '200': { description: 'With `wait=true`: committed', content: json(BatchCommittedSchema) },
      '202': { description: 'Queued', content: json(BatchAcceptedSchema) },
      '503': Problems.unavailable,
    },
  },
  bulkCancelStatuses: {
    method: 'post',
    path: '/api/status/cancel',
    scope: 'status:write',
    tag: 'Statuses',
    summary: 'Cancel every live status a filter selects',
    description: `The filter comes as query parameters or as a JSON body of the same names, not both, and needs at least one filter (\`filter-required\`). ${filtersNote}`,
    query: FilterQuerySchema,
    body: FilterBodySchema,
    bodyOptional: true,
    // One or the other: which one is parsed depends on what came.
    readsItself: true,
    responses: {
      '200': { description: 'How many were cancelled', content: json(BulkCancelResultSchema) },
      '422': Problems.searchTooBroad,
      '503': Problems.unavailable,
    },
  },
})

/** Mounted at `/api`. */
export function batchRoutes({ updater, filters }: { updater: StatusUpdater; filters: StatusFilterService }) {
  return mount(Router(), '/api', batchOperations, {
    bulkCancelStatuses: async (_input, req, res) => {
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
    },

    batchUpdateStatuses: async ({ query, body }, req, res) => {
      const { wait = false } = query
      const rejected: Rejected[] = []
      const valid: { index: number; item: BatchItem }[] = []
      body.updates.forEach((raw, index) => {
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
    },
  })
}
