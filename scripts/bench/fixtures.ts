export interface ServiceTarget {
  url: string
  apiKey: string
}

export const authHeaders = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` })

/** Creates statuses `<prefix>-0000 …` through the public API, a few requests at a time. */
export async function createStatuses(
  service: ServiceTarget,
  prefix: string,
  count: number,
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
        body: JSON.stringify({ status_id: id, kind: 'bench.fixture', status: 'processing', tags: ['bench'] }),
      })
      const text = await res.text()
      if (res.status !== 201) throw new Error(`creating fixture ${id}: HTTP ${res.status} ${text}`)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return ids
}
