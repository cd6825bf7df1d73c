// One proxied request: what it asks for, where it goes, and the responses cachecar can give it.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Transform, type Readable } from 'node:stream'
import { lingerThenClose, tooLarge } from '../../http/body.ts'
import type { BodyBudget } from '../../http/body-budget.ts'
import { FillHold } from './fill-memory.ts'
import type { Logger } from '../../ops/logger.ts'
import { SENT } from '../../http/reply.ts'
import type { CacheStatus } from '../policy/cache-status.ts'
import { earlyHints, endToEnd, type HeaderList } from '../headers.ts'
import {
  UpstreamFailure,
  forward,
  pipeToClient,
  upstreamResponseHeaders,
  type Collect,
  type Forwarded,
} from './forward.ts'
import { requestDirectives, type RequestDirectives } from '../policy/caching-fields.ts'
import {
  answerItselfUnstorable,
  retentionMs,
  type ClientRequest,
  type GetHeader,
  type NotStorable,
  type ResponseFacts,
} from '../policy/policy.ts'
import type { StoredResponse } from '../record.ts'
import { OvertakenByPurgeError, type AbandonReason } from '../../store/types.ts'
import type { FillStart, ResponseCache } from '../response-cache.ts'
import type { Flights } from './flights.ts'
import { carriesAny, foldFieldName } from './request-fields.ts'
import type { Upstream } from './upstream.ts'

export interface ProxyServices {
  readonly cache: ResponseCache
  readonly flights: Flights
  readonly now: () => number
  readonly logger: Logger
  readonly onEvent?: (upstream: string, event: ProxyEvent) => void
  /** Seconds from sending a request upstream to its response headers. */
  readonly onUpstreamTiming?: (upstream: string, seconds: number) => void
  /** Response bodies held while they are collected for the cache, all fills together (fill-memory.ts); none: unbounded. */
  readonly fillMemory?: BodyBudget
}

export type ProxyEvent =
  | 'hit'
  | 'miss'
  | 'stale'
  | 'revalidated-304'
  | 'revalidated-200'
  | 'collapsed'
  | 'bypass'
  | 'stored'
  /** A response not stored because a purge arrived while it was being fetched. */
  | 'overtaken'
  /** A response not stored because the fill memory budget had no room for its body (fill-memory.ts). */
  | 'fill-memory'
  | `error:${string}`

const SET_BY_CACHECAR = new Set(['x-forwarded-for', 'x-forwarded-proto'])

/** Dropped when cachecar goes upstream for the whole response (a fill): the client's own preconditions, and Range. */
const FOR_THE_CLIENT = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']

export class Exchange {
  readonly upstream: Upstream
  readonly method: string
  /** Path and query as received after /u/<name>: the primary cache key (no normalisation, RFC 9111 §4.1). */
  readonly key: string
  readonly request: GetHeader
  readonly directives: RequestDirectives
  readonly services: ProxyServices
  #fillStart: FillStart | undefined
  #client: ClientRequest | undefined
  /** A GET for one byte range: what a fill fetches whole is cut for it (act.ts), or it goes upstream as it came. */
  oneRange = false
  /** Whether the lookup found Vary variants for this URL (a response without Vary must then drop them). */
  hadVariants = true
  /**
   * The store key whose miss may have taken a coalescing lock: the URL's, or a Vary variant's; undefined until a
   * lookup missed (a hit, or a request never looked up, holds no lock to release).
   */
  missedKey: string | undefined
  readonly #incoming: IncomingMessage
  readonly #outgoing: ServerResponse

  constructor(
    upstream: Upstream,
    method: string,
    key: string,
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    services: ProxyServices,
  ) {
    this.upstream = upstream
    this.method = method
    this.key = key
    this.#incoming = incoming
    this.#outgoing = outgoing
    this.services = services
    this.request = (name) => {
      const value = incoming.headers[name]
      return Array.isArray(value) ? value.join(', ') : (value ?? null)
    }
    this.directives = requestDirectives(this.request)
  }

  /** The request as the storability decision sees it. */
  get client(): ClientRequest {
    this.#client ??= {
      get: this.request,
      // A credential-like field (X-Api-Key…) while the upstream's default TTL is on: stored only as Authorization is.
      credential:
        this.upstream.config.defaultTtlMs > 0 && carriesAny(this.#incoming.headers, this.upstream.credentialFields),
      unkeyed: carriesAny(this.#incoming.headers, this.upstream.unkeyedFields),
      directives: this.directives,
    }
    return this.#client
  }

  /** How long after going stale a stored response stands in for an unreachable upstream (-1: its stale retention). */
  get unreachableWindowMs(): number {
    const { staleIfUnreachableMs, staleRetentionMs } = this.upstream.config
    return staleIfUnreachableMs < 0 ? staleRetentionMs : staleIfUnreachableMs
  }

  get flightKey(): string {
    return `${this.upstream.config.name} ${this.key}`
  }

  /**
   * Nothing will be stored for this URL by this request after all: tasks waiting for it (cross-task coalescing) go on
   * at once, and when the answer was not storable, later misses of the URL stop waiting on each other for a while.
   * Every path that took a lock with its lookup and will not store ends here (or in a write, which releases it).
   */
  abandon(reason: AbandonReason): void {
    if (this.missedKey === undefined) return
    // Best effort, never awaited by the answer: a lock that is not released expires after the coalescing time.
    this.services.cache.abandon(this.upstream.config.name, this.missedKey, reason).catch(() => {})
  }

  event(event: ProxyEvent): void {
    this.services.onEvent?.(this.upstream.config.name, event)
  }

  /** Stores a response fetched for this request; a failure is logged, never thrown: the client is served all the same. */
  async store(stored: StoredResponse): Promise<void> {
    const { name, staleRetentionMs } = this.upstream.config
    try {
      const retention = retentionMs(stored.facts, staleRetentionMs, this.unreachableWindowMs)
      await this.services.cache.save(name, this.key, this.request, stored, retention, this.fillStart, this.hadVariants)
      this.event('stored')
      // A variant's miss answered without Vary is stored under the URL: the lock on the variant's key ends too.
      if (this.missedKey !== undefined && this.missedKey !== this.key) this.abandon('not-stored')
    } catch (error) {
      this.abandon('not-stored')
      if (error instanceof OvertakenByPurgeError) {
        this.event('overtaken')
        return
      }
      // Full or locked store: the response was served all the same; it just is not cached.
      this.#storeFailed(error, 'response not stored')
    }
  }

  /**
   * Removes the stored response (every variant) once the upstream declared it unstorable (private, no-store, Set-Cookie
   * on its 304); when the reason is this request's own (its Cookie, say), the stored copy stays as it was.
   */
  async dropUnstorable(reason: NotStorable): Promise<void> {
    if (!answerItselfUnstorable(reason)) return
    try {
      await this.services.cache.invalidate(this.upstream.config.name, this.key)
    } catch (error) {
      this.#storeFailed(error, 'unstorable response not removed')
    }
  }

  #storeFailed(error: unknown, message: string): void {
    const { logger } = this.services
    logger.warn(
      { event: 'proxy_store_failed', upstream: this.upstream.config.name, err: (error as Error).message },
      message,
    )
  }

  /**
   * End-to-end request fields for the upstream, plus X-Forwarded-*; Host comes from the upstream's origin. The client's
   * own conditionals are kept or dropped; a validation sends the stored response's validators instead (§4.3.1).
   */
  upstreamHeaders({
    conditionals,
    validating,
  }: {
    conditionals: 'keep' | 'drop'
    validating?: ResponseFacts | undefined
  }): HeaderList {
    const drop = ['host', 'expect', ...(conditionals === 'drop' ? FOR_THE_CLIENT : [])]
    // X-Forwarded-For and -Proto are cachecar's to set, under any spelling an upstream would fold into them.
    const headers = endToEnd(this.#incoming.headers, drop).filter(([name]) => !SET_BY_CACHECAR.has(foldFieldName(name)))
    const prior = this.request('x-forwarded-for')
    const client = this.#incoming.socket.remoteAddress ?? 'unknown'
    headers.push(['x-forwarded-for', prior ? `${prior}, ${client}` : client], ['x-forwarded-proto', 'http'])
    if (validating?.etag) headers.push(['if-none-match', validating.etag])
    if (validating?.lastModified) headers.push(['if-modified-since', validating.lastModified])
    return headers
  }

  /**
   * Noted when this request first goes upstream (hits never do, so they pay nothing for it): a response fetched for it
   * is stored only if no purge since then reached it.
   */
  get fillStart(): FillStart {
    this.#fillStart ??= this.services.cache.fillStart()
    return this.#fillStart
  }

  /** What this request's fill holds of the fill memory budget (FillHold.release gives it back). */
  fillHold(): FillHold {
    return new FillHold(this.services.fillMemory)
  }

  /**
   * A POST's answer is stored after the POST's own invalidation of its URL: only purges after that one may overtake
   * it (ResponseCache.fillStartAfterOwnPurge).
   */
  restartFillAfterOwnPurge(): void {
    this.#fillStart = this.services.cache.fillStartAfterOwnPurge()
  }

  /** Forwards to the upstream, relaying 102 Processing and 103 Early Hints to the client (RFC 9110 §15.2). */
  async send(method: string, headers: HeaderList, withBody: boolean): Promise<Forwarded> {
    void this.fillStart // noted before the request leaves
    const started = performance.now()
    const name = this.upstream.config.name
    try {
      const forwarded = await this.#forward(method, headers, withBody)
      this.services.onUpstreamTiming?.(name, (performance.now() - started) / 1000)
      return forwarded
    } catch (error) {
      if (this.#bodyTooLarge) {
        this.#incoming.unpipe()
        lingerThenClose(this.#incoming, this.#outgoing)
        throw tooLarge(this.upstream.config.maxRequestBytes, 'request body')
      }
      this.event(`error:${error instanceof UpstreamFailure ? error.kind : 'other'}`)
      throw error
    }
  }

  #bodyTooLarge = false

  /** The client's body, streamed; 413 before sending when Content-Length is over the limit, or as soon as it is crossed. */
  #requestBody(): Readable {
    const limit = this.upstream.config.maxRequestBytes
    if (Number(this.request('content-length') ?? 0) > limit) {
      this.#bodyTooLarge = true
      throw tooLarge(limit, 'request body')
    }
    let size = 0
    const counted = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        size += chunk.byteLength
        if (size <= limit) return callback(null, chunk)
        this.#bodyTooLarge = true
        callback(new Error('request body over the limit'))
      },
    })
    return this.#incoming.pipe(counted)
  }

  #forward(method: string, headers: HeaderList, withBody: boolean): Promise<Forwarded> {
    const outgoing = this.#outgoing
    return forward(
      this.upstream,
      {
        method,
        path: this.key,
        headers,
        ...(withBody && { body: this.#requestBody() }),
        // 102 Processing and 103 Early Hints reach the client ahead of the final response (RFC 9110 §15.2); 100 and
        // 101 are about this hop's own connection and stay here.
        onInfo: ({ statusCode, headers: hints }) => {
          if (outgoing.headersSent) return
          try {
            if (statusCode === 103) outgoing.writeEarlyHints(earlyHints(hints))
            else if (statusCode === 102) outgoing.writeProcessing()
          } catch {
            // Interim answers are advice: one Node will not write is dropped, and the final response goes on.
          }
        },
      },
      this.client,
      this.services.now,
    )
  }

  /**
   * Writes the response straight to the Node response (so a failing body aborts the connection instead of being
   * ended with an error text appended), optionally collecting the body for the cache.
   */
  reply(status: number, headers: HeaderList, body: Readable, collect?: Collect): typeof SENT {
    this.#writeHead(status, headers)
    const bodyless = this.method === 'HEAD' || status === 204 || status === 304
    if (bodyless) this.#outgoing.end()
    pipeToClient(body, bodyless ? undefined : this.#outgoing, collect)
    return SENT
  }

  /**
   * Answers with a body of which `head` was already read (gathered, then not kept): those bytes, then the rest as it
   * comes, paced by the client; `done` once the response is over. A client gone meanwhile ends the upstream body.
   */
  replyAfter(
    status: number,
    headers: HeaderList,
    head: readonly Buffer[],
    body: Readable,
    done: () => void,
  ): typeof SENT {
    const outgoing = this.#outgoing
    if (this.#incoming.socket.destroyed) {
      body.destroy()
      done()
      return SENT
    }
    outgoing.once('close', done)
    this.#writeHead(status, headers)
    for (const chunk of head) outgoing.write(chunk)
    pipeToClient(body, outgoing)
    body.resume()
    return SENT
  }

  /** The fields as one flat list: Node writes it as given, repeated names and all. */
  #writeHead(status: number, headers: HeaderList): void {
    const raw: string[] = []
    for (const [name, value] of headers) raw.push(name, value)
    this.#outgoing.writeHead(status, raw)
  }

  /** Streams an upstream response to the client untouched (apart from hop-by-hop fields). */
  streamed(forwarded: Forwarded, status: CacheStatus): typeof SENT {
    return this.reply(forwarded.status, upstreamResponseHeaders(forwarded, status), forwarded.body)
  }
}
