// One undici Pool per configured upstream; the request only ever chooses the path, never the host.
import { Pool, errors } from 'undici'
import type { Dispatcher } from 'undici'
import type { UpstreamConfig } from '../../config.ts'
import type { HeaderList } from '../headers.ts'
import { CREDENTIAL_FIELDS, UNKEYED_OVERRIDES, foldFieldName } from './request-fields.ts'

export type UpstreamErrorKind = 'refused' | 'connect-timeout' | 'headers-timeout' | 'body-timeout' | 'reset' | 'other'

/** Classifies undici failures for metrics and for the 502/504 choice. */
export function errorKind(error: unknown): UpstreamErrorKind {
  if (error instanceof errors.ConnectTimeoutError) return 'connect-timeout'
  if (error instanceof errors.HeadersTimeoutError) return 'headers-timeout'
  if (error instanceof errors.BodyTimeoutError) return 'body-timeout'
  const code = (error as { code?: string }).code
  if (code === 'ECONNREFUSED') return 'refused'
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'UND_ERR_ABORTED') return 'reset'
  return 'other'
}

export interface UpstreamRequest {
  readonly method: string
  /** Path and query as received after /u/<name>, e.g. "/v2/items?x=1". */
  readonly path: string
  readonly headers: HeaderList
  readonly body?: Dispatcher.DispatchOptions['body']
  readonly signal?: AbortSignal
  readonly onInfo?: (info: { statusCode: number; headers: Record<string, string | string[]> }) => void
}

export class Upstream {
  readonly config: UpstreamConfig
  /** Folded names of request fields that make a request bypass the cache: the known overrides and this upstream's own. */
  readonly unkeyedFields: ReadonlySet<string>
  /** Folded names of request fields treated like Authorization when the upstream's default TTL is on. */
  readonly credentialFields: ReadonlySet<string>
  readonly #pool: Pool

  constructor(config: UpstreamConfig) {
    this.config = config
    this.unkeyedFields = new Set([...UNKEYED_OVERRIDES, ...config.unkeyedFields].map(foldFieldName))
    this.credentialFields = new Set([...CREDENTIAL_FIELDS, ...config.credentialFields].map(foldFieldName))
    this.#pool = new Pool(config.origin, {
      connections: config.connections,
      connect: { timeout: config.connectTimeoutMs },
      headersTimeout: config.headersTimeoutMs,
      bodyTimeout: config.bodyTimeoutMs,
      keepAliveTimeout: 4000,
    })
  }

  /**
   * The path sent to the upstream: its base path joined with the raw request path by concatenation. The Pool is
   * bound to the configured origin, so `//evil/x` or `/\\evil/x` stay paths on that origin (never `new URL(path, base)`).
   */
  pathFor(rawPath: string): string {
    const path = rawPath === '' ? '/' : rawPath.startsWith('/') || rawPath.startsWith('?') ? rawPath : `/${rawPath}`
    return this.config.basePath + (path.startsWith('?') ? `/${path}` : path)
  }

  /**
   * The cache key a Location-style field names, when it points into this upstream (same origin, under the base path);
   * relative values resolve against the request's URL. Resolving here only compares; it never decides where a
   * request goes.
   */
  keyOf(value: string | null | undefined, requestKey: string): string | undefined {
    if (!value) return undefined
    let url: URL
    try {
      url = new URL(value, this.config.origin + this.pathFor(requestKey))
    } catch {
      return undefined
    }
    const base = this.config.basePath
    const rest = url.pathname.slice(base.length)
    if (url.origin !== this.config.origin || !url.pathname.startsWith(base) || !rest.startsWith('/')) return undefined
    return rest + url.search
  }

  request(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const headers: string[] = []
    for (const [name, value] of req.headers) headers.push(name, value)
    return this.#pool.request({
      origin: this.config.origin,
      method: req.method as Dispatcher.HttpMethod,
      path: this.pathFor(req.path),
      headers,
      body: req.body ?? null,
      ...(req.signal && { signal: req.signal }),
      ...(req.onInfo && { onInfo: req.onInfo }),
    })
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}
