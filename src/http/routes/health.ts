import { Router } from 'express'
import type { Registry } from 'prom-client'
import { z } from 'zod'
import { AppError } from '../../errors'
import { json, problem } from '../answers'
import { mount, operations } from '../operation'
import { HealthSchema, ReadySchema } from '../schemas/responses'

export const healthOperations = operations({
  health: {
    method: 'get',
    path: '/health',
    scope: null,
    tag: 'Operations',
    summary: 'Liveness',
    responses: { '200': { description: 'The process is up', content: json(HealthSchema) } },
  },
  ready: {
    method: 'get',
    path: '/ready',
    scope: null,
    tag: 'Operations',
    summary: 'Readiness: the database answers',
    responses: {
      '200': { description: 'Ready', content: json(ReadySchema) },
      '503': problem('NotReady', 503, ['not-ready']),
    },
  },
  metrics: {
    method: 'get',
    path: '/metrics',
    scope: null,
    tag: 'Operations',
    summary: 'Prometheus metrics',
    responses: {
      '200': {
        description: 'Prometheus text exposition format',
        content: { 'text/plain': { schema: z.string() } },
      },
    },
  },
})

export function healthRoutes({
  checkReady,
  registry,
}: {
  checkReady: () => Promise<void>
  registry: Registry
}) {
  return mount(Router(), '', healthOperations, {
    health: (_input, _req, res) => {
      res.json({ status: 'ok' })
    },

    ready: async (_input, req, res) => {
      try {
        await checkReady()
      } catch (err) {
        req.log.warn({ err }, 'readiness check failed')
        throw new AppError('not-ready', 'The database is not reachable')
      }
      res.json({ status: 'ready' })
    },

    metrics: async (_input, _req, res) => {
      res.type(registry.contentType).send(await registry.metrics())
    },
  })
}
