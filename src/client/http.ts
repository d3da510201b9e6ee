import { problemFromBody, StatusTrackerError, StatusTrackerNetworkError } from './errors'
import { DEFAULT_RETRY_POLICY, retryDelay, serverDelayMs, type Outcome, type RetryPolicy } from './retry'

export type Fetch = (input: string, init: RequestInit) => Promise<Response>

export interface TransportOptions {
  /** Where the service is, e.g. `http://localhost:3000` (in a browser, `''` means this page's origin). */
  baseUrl: string
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string
  /**
   * A browser token (`stt_…`, from `POST /api/tokens`) instead of a key, for pages that must not hold
   * one: it reads its own statuses, their history and their events, and nothing else (SPEC §13).
   */
  token?: string
  /** The `fetch` to use: the global one unless given (wrap it to log, trace or test). */
  fetch?: Fetch
  /** Retries after the first attempt; 0 turns retrying off. Default 3. */
  retries?: number
  backoff?: Partial<RetryPolicy['backoff']>
  /** A `Retry-After` longer than this is not waited for. Default 60 s. */
  maxRetryAfterMs?: number
  /** How long one attempt may take before it counts as failed. Default 30 s. */
  timeoutMs?: number
  /** Sent with every request. */
  headers?: Record<string, string>
}

export interface RequestOptions {
  signal?: AbortSignal
  /** Overrides the client's `retries` for this call. */
  retries?: number
  timeoutMs?: number
  headers?: Record<string, string>
}

export interface WriteOptions extends RequestOptions {
  /**
   * The `Idempotency-Key` of this call. One is generated when not given; the same key goes with every
   * retry, so the server applies the write once and replays its answer to the retries.
   */
  idempotencyKey?: string
}

/** About the answer that a call's result came from. */
export interface ResponseInfo {
  status: number
  headers: Headers
  /** Attempts made, retries included. */
  attempts: number
  /** The `Idempotency-Key` sent, on routes that take one. */
  idempotencyKey?: string
  /** True when the server answered from a stored result (`Idempotent-Replayed: true`). */
  replayed: boolean
  /** The record's version from `ETag`, on routes that answer with one record. */
  version?: number
  location?: string
}

export interface ApiResult<T> {
  data: T
  response: ResponseInfo
}

/** A call's promise of its data; `withResponse()` also gives the answer's status and headers. */
export type ApiCall<T> = Promise<T> & { withResponse(): Promise<ApiResult<T>> }

export type QueryValue = string | number | boolean | Date | readonly (string | number)[] | undefined

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  path: string
  query?: object
  body?: unknown
  headers?: Record<string, string>
  /** The route honours `Idempotency-Key`: one is sent, which makes the request safe to retry. */
  idempotent?: boolean
  /** Sending it twice does no harm though the route takes no key (a heartbeat): retried like a read. */
  retryable?: boolean
  /** 304 Not Modified is an answer (with `null` data), not an error. */
  notModified?: boolean
}

export function toQueryString(query: object | undefined): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query ?? {}) as [string, QueryValue][]) {
    if (value === undefined) continue
    if (Array.isArray(value)) params.set(name, value.join(','))
    else if (value instanceof Date) params.set(name, value.toISOString())
    else params.set(name, String(value))
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

/** Node's fetch says why a connection failed in `cause.code`; browsers do not say, so nothing counts as refused there. */
function wasRefused(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } })?.cause?.code
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
}

const abortError = (signal: AbortSignal): unknown =>
  signal.reason ?? Object.assign(new Error('The operation was aborted'), { name: 'AbortError' })

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal))
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortError(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

const newIdempotencyKey = (): string => globalThis.crypto.randomUUID()

class AttemptTimedOut extends Error {}

export function createTransport(options: TransportOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const credential = options.apiKey ?? options.token
  const fetchImpl: Fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const policy: RetryPolicy = {
    retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
    backoff: { ...DEFAULT_RETRY_POLICY.backoff, ...options.backoff },
    maxServerDelayMs: options.maxRetryAfterMs ?? DEFAULT_RETRY_POLICY.maxServerDelayMs,
  }
  const defaultTimeoutMs = options.timeoutMs ?? 30_000

  /**
   * One attempt. The timeout covers the whole exchange, body included, unless `stream` is set: then it
   * covers only the wait for the headers, and the caller reads the body for as long as it likes.
   */
  async function attempt(
    url: string,
    init: RequestInit,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    stream: boolean,
  ): Promise<{ response: Response; text: string }> {
    if (signal?.aborted) throw abortError(signal)
    const controller = new AbortController()
    const onAbort = () => controller.abort(abortError(signal!))
    signal?.addEventListener('abort', onAbort, { once: true })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort(new AttemptTimedOut(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      if (!stream) signal?.removeEventListener('abort', onAbort)
    }
    try {
      const response = await fetchImpl(url, { ...init, signal: controller.signal })
      if (stream && response.ok) {
        clearTimeout(timer)
        return { response, text: '' }
      }
      const text = await response.text()
      done()
      return { response, text }
    } catch (err) {
      done()
      if (timedOut) throw new AttemptTimedOut(`no answer within ${timeoutMs} ms`, { cause: err })
      throw err
    }
  }

  async function send(
    spec: RequestSpec,
    call: (RequestOptions & { idempotencyKey?: string }) | undefined,
    stream: boolean,
  ): Promise<{ response: Response; text: string; info: ResponseInfo }> {
    const idempotencyKey = spec.idempotent ? (call?.idempotencyKey ?? newIdempotencyKey()) : undefined
    const headers: Record<string, string> = {
      Accept: stream ? 'text/event-stream' : 'application/json',
      ...options.headers,
      ...(credential !== undefined && { Authorization: `Bearer ${credential}` }),
      ...(spec.body !== undefined && { 'Content-Type': 'application/json' }),
      ...(idempotencyKey !== undefined && { 'Idempotency-Key': idempotencyKey }),
      ...spec.headers,
      ...call?.headers,
    }
    const url = `${baseUrl}${spec.path}${toQueryString(spec.query)}`
    const init: RequestInit = {
      method: spec.method,
      headers,
      ...(spec.body !== undefined && { body: JSON.stringify(spec.body) }),
    }
    // Sending it again cannot do the work twice: a read, a DELETE, or a write under one Idempotency-Key.
    const replayable =
      spec.method === 'GET' ||
      spec.method === 'DELETE' ||
      spec.retryable === true ||
      idempotencyKey !== undefined
    const retryPolicy = call?.retries === undefined ? policy : { ...policy, retries: call.retries }
    const signal = call?.signal

    for (let attempts = 1; ; attempts++) {
      let outcome: Outcome
      let failure: StatusTrackerError | StatusTrackerNetworkError
      try {
        const { response, text } = await attempt(
          url,
          init,
          call?.timeoutMs ?? defaultTimeoutMs,
          signal,
          stream,
        )
        const etag = response.headers.get('etag')?.match(/^(?:W\/)?"(\d+)"$/)?.[1]
        const info: ResponseInfo = {
          status: response.status,
          headers: response.headers,
          attempts,
          ...(idempotencyKey !== undefined && { idempotencyKey }),
          replayed: response.headers.get('idempotent-replayed') === 'true',
          ...(etag !== undefined && { version: Number(etag) }),
          ...(response.headers.get('location') !== null && { location: response.headers.get('location')! }),
        }
        if (response.ok || (spec.notModified && response.status === 304)) return { response, text, info }
        const problem = problemFromBody(response.status, response.statusText, text)
        failure = new StatusTrackerError(problem, response.headers)
        outcome = {
          kind: 'answer',
          status: response.status,
          code: problem.code,
          serverDelayMs: serverDelayMs(response.headers),
        }
      } catch (err) {
        if (signal?.aborted) throw abortError(signal)
        const what = err instanceof AttemptTimedOut ? err.message : 'request failed'
        failure = new StatusTrackerNetworkError(`${spec.method} ${spec.path}: ${what}`, attempts, {
          cause: err,
        })
        outcome = { kind: 'network', refused: wasRefused(err) }
      }
      const delay = retryDelay(outcome, attempts, replayable, retryPolicy)
      if (delay === null) throw failure
      await sleep(delay, signal)
    }
  }

  function parse<T>(text: string): T {
    return (text === '' ? undefined : JSON.parse(text)) as T
  }

  return {
    baseUrl,

    /** Sends the request (retrying as the policy allows) and resolves with the parsed answer. */
    call<T>(spec: RequestSpec, call?: WriteOptions): ApiCall<T> {
      const full = send(spec, call, false).then(({ text, response, info }) => ({
        data: (response.status === 304 ? null : parse<T>(text)) as T,
        response: info,
      }))
      const data = full.then((result) => result.data)
      // Callers may use either promise; the one they leave alone must not report an unhandled rejection.
      full.catch(() => undefined)
      data.catch(() => undefined)
      return Object.assign(data, { withResponse: () => full })
    },

    /** Opens a streaming answer: retried like `call` until the headers arrive, then the body is the caller's. */
    async open(spec: RequestSpec, call?: RequestOptions): Promise<Response> {
      return (await send(spec, call, true)).response
    },
  }
}

export type Transport = ReturnType<typeof createTransport>
