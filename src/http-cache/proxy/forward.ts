// Sends one request upstream and shapes the answer: stream it through, or tee it into the cache while streaming.
import type { Readable, Writable } from 'node:stream'
import { Problem } from '../../http/problem.ts'
import { cacheStatus, type CacheStatus, type Forward } from '../policy/cache-status.ts'
import { endToEnd, getter, type HeaderList } from '../headers.ts'
import { responseFields } from '../policy/caching-fields.ts'
import { judgeResponse, type ClientRequest, type NotStoredReason, type ResponseFacts } from '../policy/policy.ts'
import type { StoredResponse } from '../record.ts'
import { errorKind, type Upstream, type UpstreamErrorKind, type UpstreamRequest } from './upstream.ts'

export interface Forwarded {
  readonly requestTime: number
  readonly status: number
  readonly headers: HeaderList
  readonly facts: ResponseFacts
  readonly body: Readable
  /** The body's length from a valid Content-Length; undefined when none was declared (chunked, close-delimited). */
  readonly declaredLength: number | undefined
  /** Why this response must not be stored; undefined when it may be. */
  readonly notStorable: NotStoredReason | undefined
}

export class UpstreamFailure extends Error {
  readonly kind: UpstreamErrorKind
  constructor(kind: UpstreamErrorKind, options: { cause?: unknown }) {
    super(`upstream request failed: ${kind}`, options)
    this.name = 'UpstreamFailure'
    this.kind = kind
  }

  /**
   * 504 for timeouts, 502 for the rest (RFC 9110 §15.6.3, §15.6.5), with the Cache-Status of the trip that failed:
   * why it went upstream (`fwd`) and what went wrong (`detail`: the timeout, or upstream-unreachable).
   */
  toProblem(upstream: string, fwd: Forward): Problem {
    const timeout = this.kind.endsWith('timeout')
    const detail = timeout ? this.kind : 'upstream-unreachable'
    return new Problem(
      {
        kind: timeout ? 'upstream-timeout' : 'upstream-unreachable',
        status: timeout ? 504 : 502,
        title: timeout ? 'Upstream timeout' : 'Bad gateway',
        detail: `upstream "${upstream}" failed: ${this.kind}`,
        extensions: { upstream, reason: this.kind },
        headers: { 'cache-status': cacheStatus({ fwd, detail }) },
      },
      { cause: this.cause },
    )
  }
}

const CHUNKED = /(?:^|,)\s*chunked\s*$/i
const EVENT_STREAM = /^\s*text\/event-stream\s*(?:;|$)/i

/** Sends `request` upstream; rejects with UpstreamFailure before headers arrive. */
export async function forward(
  upstream: Upstream,
  request: UpstreamRequest,
  clientRequest: ClientRequest,
  now: () => number,
): Promise<Forwarded> {
  const requestTime = now()
  let response: Awaited<ReturnType<Upstream['request']>>
  try {
    response = await upstream.request(request)
  } catch (error) {
    throw new UpstreamFailure(errorKind(error), { cause: error })
  }
  const responseTime = now()
  const headers = endToEnd(response.headers)
  const get = getter(headers)
  const { facts, notStorable: reason } = judgeResponse(
    {
      method: request.method,
      client: clientRequest,
      status: response.statusCode,
      defaultTtlMs: upstream.config.defaultTtlMs,
      store5xx: upstream.config.store5xx,
      // Compared only for a POST: the one method whose answer it can make storable (policy.ts).
      contentLocationIsTarget:
        request.method === 'POST' && upstream.keyOf(get('content-location'), request.path) === request.path,
    },
    responseFields(get),
    requestTime,
    responseTime,
  )
  const declared = Number(get('content-length') ?? NaN)
  const declaredLength = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined
  const tooLarge = declaredLength !== undefined && declaredLength > upstream.config.maxObjectBytes
  // RFC 9112 §6.3: a body without Content-Length or chunked framing ends when the connection closes, so a cut one
  // cannot be told from a whole one: it is passed on, never stored.
  const closeDelimited =
    declaredLength === undefined &&
    !CHUNKED.test(String(response.headers['transfer-encoding'] ?? '')) &&
    request.method !== 'HEAD' &&
    response.statusCode !== 204 &&
    response.statusCode !== 304
  // A live event stream (SSE) is no representation to replay, and it may never end: read whole before answering,
  // as a storable chunked body is, its client would get nothing. It passes through as it comes.
  const eventStream = EVENT_STREAM.test(get('content-type') ?? '')
  return {
    requestTime,
    status: response.statusCode,
    headers,
    facts,
    body: response.body,
    declaredLength,
    notStorable:
      reason ??
      (tooLarge ? 'too-large' : closeDelimited ? 'close-delimited' : eventStream ? 'event-stream' : undefined),
  }
}

/** What the body turned into once it ended. */
export type BodyOutcome = { readonly complete: Buffer } | { readonly failed: unknown } | { readonly overflow: true }

/** Where a body's bytes are kept for the cache as they pass (sized from its Content-Length), and who gets them. */
export interface Collect {
  readonly into: Uint8Array
  readonly done: (outcome: BodyOutcome) => void
}

/**
 * Copies `body` to the client, with `collect` keeping its bytes for the cache in their final place (no chunk list, no
 * concatenation). While the body is being collected, the upstream is read at its own pace whatever the client's: the
 * bytes are held for the cache anyway, so the client's queue refers to them instead of slowing the fill that
 * collapsed waiters depend on (a client that never read held every waiter). A body longer than it said is not kept,
 * and the client's backpressure paces the upstream again. Collected bytes are handed over only when the body ended
 * cleanly: a cut body is never stored, and the client's response is destroyed, not ended, so it can never pass for
 * complete. If the client goes away while bytes are being collected, the body is still read to the end for the cache.
 */
export function pipeToClient(body: Readable, client: Writable | undefined, collect?: Collect): void {
  const into = collect?.into
  let size = 0
  let overflow = !into
  let detached = client === undefined
  client?.on('drain', () => body.resume())
  client?.on('close', () => {
    if (client.writableFinished || detached) return
    detached = true
    if (overflow) body.destroy()
    else body.resume()
  })
  body.on('data', (chunk: Buffer) => {
    let queued = chunk
    if (into && !overflow) {
      size += chunk.byteLength
      if (size > into.byteLength) overflow = true
      else {
        into.set(chunk, size - chunk.byteLength)
        queued = Buffer.from(into.buffer, into.byteOffset + size - chunk.byteLength, chunk.byteLength) // the kept copy
      }
    }
    if (detached || !client) return
    // Only a body that will not be kept waits for a slow client.
    if (!client.write(queued) && overflow) body.pause()
  })
  body.on('end', () => {
    if (!detached) client?.end()
    if (!into) return
    if (overflow || size !== into.byteLength) collect.done({ overflow: true })
    else collect.done({ complete: Buffer.from(into.buffer, into.byteOffset, into.byteLength) })
  })
  body.on('error', (error) => {
    if (!detached) client?.destroy(error)
    collect?.done({ failed: error })
  })
}

/**
 * A body read before answering: whole within the limit, or not kept (the bytes read so far, and why: past the object
 * size limit, or no room left in the fill memory budget), or failed.
 */
export type Gathered =
  | { readonly complete: Buffer }
  | { readonly over: readonly Buffer[]; readonly reason: 'too-large' | 'fill-memory' }
  | { readonly failed: unknown }

/**
 * Reads a body (chunked, or a background refresh's) up to `limit` bytes before anything is answered, so the answer
 * can say whether it was stored; `room(size)` says whether `size` bytes may be held. When the body is not kept it
 * is left paused after the bytes read so far, for the caller to pass on or drop; its error listener stays (an error
 * between here and the caller's own listener must not go unheard).
 */
export function gather(body: Readable, limit: number, room: (size: number) => boolean): Promise<Gathered> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.byteLength
      const reason = size > limit ? 'too-large' : room(size) ? undefined : 'fill-memory'
      if (!reason) return
      body.pause()
      body.off('data', onData)
      resolve({ over: chunks, reason })
    }
    body.on('data', onData)
    body.once('end', () => resolve({ complete: Buffer.concat(chunks, size) }))
    body.on('error', (error) => resolve({ failed: error }))
  })
}

export function storedFrom(forwarded: Forwarded, body: Uint8Array): StoredResponse {
  return { ...storedHead(forwarded), body }
}

/** What is stored of a response besides its body. */
export function storedHead(forwarded: Forwarded): Omit<StoredResponse, 'body'> {
  // Age is folded into the facts (initial age) and recomputed on every reuse; qualified private and no-cache fields
  // reach only the client whose request fetched the response.
  return { facts: forwarded.facts, headers: withoutWithheld(forwarded.facts, forwarded.headers, ['age']) }
}

/** `headers` without the fields the response's qualified private / no-cache withhold from later clients (and `also`). */
export function withoutWithheld(facts: ResponseFacts, headers: HeaderList, also: readonly string[] = []): HeaderList {
  const dropped = new Set([...also, ...(facts.withheldFields ?? [])])
  return dropped.size === 0 ? headers : headers.filter(([name]) => !dropped.has(name))
}

/** The upstream's end-to-end fields (Content-Length kept: the body passes through unchanged) plus Cache-Status. */
export function upstreamResponseHeaders(forwarded: Forwarded, status: CacheStatus): HeaderList {
  const headers = forwarded.headers.filter(([name]) => name !== 'cache-status')
  headers.push(['cache-status', cacheStatus(status)])
  return headers
}
