import { Router } from 'express'
import type { BatchItem, StatusUpdater } from '../../services/status-updater'
import { requireScope, tenantOf } from '../auth'
import { zodIssues } from '../error-handler'
import { BatchBodySchema, BatchItemSchema, BatchQuerySchema } from '../schemas/status'

interface Rejected {
  index: number
  error: { code: string; message: string; errors?: { path: string; message: string }[] }
}

/** `POST /api/status/batch`: up to 1,000 updates through the batched updater. */
export function batchRoutes({ updater }: { updater: StatusUpdater }) {
  const router = Router()

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

    const submitted = updater.submit(
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
