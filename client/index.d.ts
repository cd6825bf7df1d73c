// Types for the cachecar client (client/index.js).

export interface ClientOptions {
  /** Default: $CACHECAR_URL, else http://127.0.0.1:8787. */
  url?: string | undefined
  /** CACHECAR_TOKEN of the sidecar, when it requires one. */
  token?: string | undefined
  /** Per request, headers and body included. Default 1000. */
  timeoutMs?: number | undefined
  /** When cachecar is unreachable or times out, KV reads resolve as misses and KV writes are dropped (logged). */
  failOpen?: boolean | undefined
  logger?: { warn?(message: string): void } | undefined
  /** Keep-alive connections to the sidecar. Default 16. */
  connections?: number | undefined
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  field?: string
  [extension: string]: unknown
}

export declare class CachecarError extends Error {
  readonly status: number
  /** The problem type URI, e.g. "urn:cachecar:problem:precondition-failed". */
  readonly type: string
  readonly problem: Problem | undefined
}

export declare class CachecarUnavailableError extends Error {}

export interface KvValue {
  value: Uint8Array
  contentType: string
  etag: string
  text(): string
  json<T = unknown>(): T
}

export interface SetOptions {
  /** Seconds. */
  ttl?: number | undefined
  tags?: string[] | undefined
  /** Compare-and-set: the write lands only if the current ETag matches. */
  ifMatch?: string | undefined
  /** Create only. */
  ifNoneMatch?: boolean | undefined
  contentType?: string | undefined
}

export interface BulkItem {
  key: string
  found: boolean
  value?: string
  encoding?: 'utf8' | 'base64'
  contentType?: string
  etag?: string
  expiresAt?: string
}

export interface Session<D = Record<string, unknown>> {
  id: string
  data: D
  subject: string | null
  expiresAt: string
  absoluteExpiresAt: string
  etag: string
}

export type PurgeTarget =
  | { upstream: string; path: string; soft?: boolean }
  | { upstream: string; prefix: string; soft?: boolean }
  | { surrogateKeys: string[] }

export interface CachecarClient {
  kv: {
    get(namespace: string, key: string): Promise<KvValue | undefined>
    set(
      namespace: string,
      key: string,
      value: string | Uint8Array | object,
      options?: SetOptions,
    ): Promise<{ etag: string } | undefined>
    delete(namespace: string, key: string, options?: { ifMatch?: string }): Promise<boolean>
    incr(namespace: string, key: string, options?: { by?: number; ttl?: number }): Promise<number | undefined>
    getMany(namespace: string, keys: string[]): Promise<(BulkItem | undefined)[]>
    setMany(
      namespace: string,
      items: { key: string; value: string | Uint8Array | object; ttl?: number; tags?: string[] }[],
    ): Promise<{ key: string; etag: string; expiresAt: string }[] | undefined>
    purgeTags(tags: string[]): Promise<number>
  }
  sessions: {
    create<D = Record<string, unknown>>(
      data: D,
      options?: { subject?: string },
    ): Promise<Pick<Session, 'id' | 'expiresAt' | 'absoluteExpiresAt' | 'etag'>>
    get<D = Record<string, unknown>>(id: string, options?: { touch?: boolean }): Promise<Session<D> | undefined>
    replace<D = Record<string, unknown>>(id: string, data: D, options?: { ifMatch?: string }): Promise<Session<D>>
    /** JSON Merge Patch (RFC 7396) of the session data. */
    patch<D = Record<string, unknown>>(
      id: string,
      patch: Record<string, unknown>,
      options?: { ifMatch?: string },
    ): Promise<Session<D>>
    rotate<D = Record<string, unknown>>(id: string): Promise<Session<D> | undefined>
    destroy(id: string): Promise<boolean>
    destroySubject(subject: string): Promise<number>
  }
  purge(target: PurgeTarget): Promise<number>
  proxyUrl(upstream: string): string
  close(): Promise<void>
}

export declare function createClient(options?: ClientOptions): CachecarClient

/** Whether `id` has the exact shape of a cachecar session ID (43 base64url characters); check a cookie with it before use. */
export declare function isSessionId(id: unknown): id is string
