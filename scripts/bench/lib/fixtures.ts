export interface ServiceTarget {
  url: string
  apiKey: string
}

export const authHeaders = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` })

/**
 * Creates statuses `<prefix>-0000 …` through the public API, a few requests at a time; `fields` go into
 * every create body (a `parent_id`, say).
 */
export async function createStatuses(
  service: ServiceTarget,
  prefix: string,
  count: number,
  fields: Record<string, unknown> = {},
): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`)
  const concurrency = 16
  let next = 0
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!
      const res = await fetch(`${service.url}/api/status`, {
        method: 'POST',
        headers: { ...authHeaders(service.apiKey), 'content-type': 'application/json' },
        body: JSON.stringify({
          status_id: id,
          kind: 'bench.fixture',
          status: 'processing',
          tags: ['bench'],
          ...fields,
        }),
      })
      const text = await res.text()
      if (res.status !== 201) throw new Error(`creating fixture ${id}: HTTP ${res.status} ${text}`)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return ids
}

/** The body of POST /api/status/batch: the same progress for each id (ids need no escaping). */
export const batchBody = (ids: string[], progress: number) =>
  `{"updates":[${ids.map((id) => `{"status_id":"${id}","progress_percentage":${progress}}`).join(',')}]}`

export interface ServiceStats {
  queue_depth: number
  updater: { updates_written: number; flushes: number; mean_flush_ms: number; mean_batch_statuses: number }
  events: { delivered_total: number; lag: number; subscribers: number }
}

export async function serviceStats(service: ServiceTarget): Promise<ServiceStats> {
  const res = await fetch(`${service.url}/api/stats`, { headers: authHeaders(service.apiKey) })
  const text = await res.text()
  if (!res.ok) throw new Error(`GET /api/stats: HTTP ${res.status} ${text}`)
  return JSON.parse(text) as ServiceStats
}

/** Waits until the updater's queue is empty and every committed event went out; false on timeout. */
export async function waitIdle(service: ServiceTarget, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const stats = await serviceStats(service)
    if (stats.queue_depth === 0 && stats.events.lag === 0) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
