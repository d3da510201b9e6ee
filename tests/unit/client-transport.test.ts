import { StatusTrackerError, StatusTrackerNetworkError } from '../../src/client/errors'
import { createTransport, type Fetch } from '../../src/client/http'

// The network is the one thing these tests stand in for: each attempt gets the next scripted answer.
type Step = (init: RequestInit) => Promise<Response>

function scripted(...steps: Step[]) {
  const calls: { url: string; init: RequestInit; headers: Headers }[] = []
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, init, headers: new Headers(init.headers) })
    const step = steps[calls.length - 1]
    if (!step) throw new Error(`unexpected attempt ${calls.length}`)
    return step(init)
  }
  return { fetch, calls }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Step => {
  return async () =>
    new Response(JSON.stringify(body), {
      status,
      headers: {
        'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json',
        ...headers,
      },
    })
}
const lost: Step = async () => {
  throw new TypeError('fetch failed', {
    cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
  })
}
const refused: Step = async () => {
  throw new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
  })
}
const hang: Step = (init) =>
  new Promise((_resolve, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))

const transport = (fetch: Fetch, retries = 3) =>
  createTransport({
    baseUrl: 'http://tracker.test/',
    apiKey: 'st_key',
    fetch,
    retries,
    backoff: { baseMs: 1, maxMs: 2 },
  })

const record = { status_id: 's1', version: 1 }

test('when a create loses its answer, then the retry carries the same Idempotency-Key and its answer is returned', async () => {
  const net = scripted(
    lost,
    json(201, record, { ETag: '"1"', 'Idempotent-Replayed': 'true', Location: '/api/status/s1' }),
  )

  const { data, response } = await transport(net.fetch)
    .call({ method: 'POST', path: '/api/status', body: { status_id: 's1' }, idempotent: true })
    .withResponse()

  expect(data).toEqual(record)
  expect(response).toMatchObject({
    status: 201,
    attempts: 2,
    replayed: true,
    version: 1,
    location: '/api/status/s1',
  })
  const keys = net.calls.map((call) => call.headers.get('idempotency-key'))
  expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/)
  expect(keys).toEqual([keys[0], keys[0]])
  expect(response.idempotencyKey).toBe(keys[0])
  expect(net.calls[0]!.url).toBe('http://tracker.test/api/status')
  expect(net.calls[0]!.headers.get('authorization')).toBe('Bearer st_key')
  expect(net.calls[0]!.init.body).toBe('{"status_id":"s1"}')
})

test('when two creates are made, then each has a key of its own; a key given by the caller is used as is', async () => {
  const net = scripted(json(201, record), json(201, record), json(201, record))
  const http = transport(net.fetch)
  await http.call({ method: 'POST', path: '/api/status', idempotent: true })
  await http.call({ method: 'POST', path: '/api/status', idempotent: true })
  await http.call({ method: 'POST', path: '/api/status', idempotent: true }, { idempotencyKey: 'import-7' })

  const keys = net.calls.map((call) => call.headers.get('idempotency-key'))
  expect(new Set(keys).size).toBe(3)
  expect(keys[2]).toBe('import-7')
})

test('when a request without a key loses its answer, then it is not sent again', async () => {
  const net = scripted(lost)

  const error = await transport(net.fetch)
    .call({ method: 'POST', path: '/api/status/batch', body: { updates: [] } })
    .catch((err: unknown) => err)

  expect(error).toBeInstanceOf(StatusTrackerNetworkError)
  expect(error).toMatchObject({ attempts: 1 })
  expect(net.calls).toHaveLength(1)
  expect(net.calls[0]!.headers.has('idempotency-key')).toBe(false)
})

test('when a request without a key is refused before it is sent, or answered 503, then it is sent again', async () => {
  const net = scripted(
    refused,
    json(503, { code: 'queue-full', status: 503 }, { 'Retry-After': '0' }),
    json(202, { accepted: 1 }),
  )

  const data = await transport(net.fetch).call({
    method: 'POST',
    path: '/api/status/batch',
    body: { updates: [] },
  })

  expect(data).toEqual({ accepted: 1 })
  expect(net.calls).toHaveLength(3)
})

test('when a read keeps getting gateway errors, then it gives up after the retries with the last answer as a typed error', async () => {
  const html: Step = async () =>
    new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })
  const net = scripted(html, html, html)

  const error = await transport(net.fetch, 2)
    .call({ method: 'GET', path: '/api/status/s1' })
    .catch((err: unknown) => err)

  expect(net.calls).toHaveLength(3)
  expect(error).toBeInstanceOf(StatusTrackerError)
  expect(error).toMatchObject({
    status: 502,
    code: 'http-502',
    title: 'Bad Gateway',
    type: 'about:blank',
    detail: '<html>bad gateway</html>',
  })
})

test('when an attempt gets no answer in time, then it counts as lost: a read is retried', async () => {
  const net = scripted(hang, json(200, record))
  const http = createTransport({
    baseUrl: 'http://tracker.test',
    fetch: net.fetch,
    timeoutMs: 20,
    backoff: { baseMs: 1, maxMs: 1 },
  })

  await expect(http.call({ method: 'GET', path: '/api/status/s1' })).resolves.toEqual(record)
  expect(net.calls).toHaveLength(2)
})

test('when the caller aborts, then no further attempt is made and the abort reason is thrown', async () => {
  const controller = new AbortController()
  const net = scripted(async (init) => {
    setTimeout(() => controller.abort(new Error('stop')), 0)
    return hang(init)
  })

  const error = await transport(net.fetch)
    .call({ method: 'GET', path: '/api/status/s1' }, { signal: controller.signal })
    .catch((err: unknown) => err)

  expect(error).toEqual(new Error('stop'))
  expect(net.calls).toHaveLength(1)
})

test('when the answer is a problem document, then every field of it is on the error, extra fields included', async () => {
  const problem = {
    type: '/problems/invalid-transition',
    title: 'Conflict',
    status: 409,
    detail: 'A status cannot move from completed to processing',
    code: 'invalid-transition',
    from: 'completed',
    to: 'processing',
  }
  const net = scripted(json(409, problem))

  const error = (await transport(net.fetch)
    .call({ method: 'PUT', path: '/api/status/s1', body: { new_status: 'processing' }, idempotent: true })
    .catch((err: unknown) => err)) as StatusTrackerError

  expect(net.calls).toHaveLength(1)
  expect(error).toBeInstanceOf(StatusTrackerError)
  expect(error).toMatchObject({
    status: 409,
    code: 'invalid-transition',
    title: 'Conflict',
    detail: problem.detail,
  })
  expect(error.problem).toEqual(problem)
  expect(error.message).toBe('409 invalid-transition: A status cannot move from completed to processing')
})

test('when only withResponse() is awaited and the call fails, then the data promise raises no unhandled rejection', async () => {
  const unhandled: unknown[] = []
  const listener = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', listener)
  try {
    const net = scripted(json(404, { code: 'status-not-found', status: 404 }))
    await expect(
      transport(net.fetch).call({ method: 'GET', path: '/x' }).withResponse(),
    ).rejects.toBeInstanceOf(StatusTrackerError)
    await new Promise((resolve) => setImmediate(resolve))
    expect(unhandled).toEqual([])
  } finally {
    process.off('unhandledRejection', listener)
  }
})
