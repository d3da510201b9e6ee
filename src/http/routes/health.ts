import { Router } from 'express'
import type { Registry } from 'prom-client'
import { AppError } from '../../errors'

export function healthRoutes({
  checkReady,
  registry,
}: {
  checkReady: () => Promise<void>
  registry: Registry
}) {
  const router = Router()

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })

  router.get('/ready', async (req, res) => {
    try {
      await checkReady()
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed')
      throw new AppError('not-ready', 'The database is not reachable')
    }
    res.json({ status: 'ready' })
  })

  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics())
  })

  return router
}
