// The answer to GET /v1/kv/{namespace}/{key}, framework-neutral: the Hono route (routes.ts) and the hot path
// (wiring/hot-routes.ts) both call it, so they give the same status, fields and bytes.
import { noneMatchHits, parseEtagList } from '../http/conditional.ts'
import { Problem } from '../http/problem.ts'
import type { Reply } from '../http/reply.ts'
import type { Entry, Store } from '../store/types.ts'
import { freshnessHeaders } from './responses.ts'
import { decodeSegment, keyOf, namespaceOf, type KvLimits } from './validate.ts'

export interface KvDeps {
  readonly store: Store
  readonly limits: KvLimits
  readonly now: () => number
  readonly onLookup?: (hit: boolean) => void
}

/** Namespace and key from the raw (still percent-encoded) path segments, validated. */
export function address(rawNamespace: string, rawKey: string, limits: KvLimits): { namespace: string; key: string } {
  return {
    namespace: namespaceOf(decodeSegment(rawNamespace, 'namespace')),
    key: keyOf(decodeSegment(rawKey, 'key'), limits),
  }
}

/**
 * Reads the entry that the raw (still percent-encoded) path segments name; 304 when If-None-Match matches it. At once
 * when the store holds the entry in memory (Store.peek), else through a promise; a bad address throws at once.
 */
export function readValue(
  deps: KvDeps,
  rawNamespace: string,
  rawKey: string,
  ifNoneMatch: string | undefined,
): Reply | Promise<Reply> {
  const { namespace, key } = address(rawNamespace, rawKey, deps.limits)
  const held = deps.store.peek?.(namespace, key)
  if (held) return valueReply(deps, namespace, key, held, ifNoneMatch)
  return deps.store.get(namespace, key).then((entry) => valueReply(deps, namespace, key, entry, ifNoneMatch))
}

function valueReply(
  { now, onLookup }: KvDeps,
  namespace: string,
  key: string,
  entry: Entry | undefined,
  ifNoneMatch: string | undefined,
): Reply {
  onLookup?.(entry !== undefined)
  if (!entry) {
    throw new Problem({
      kind: 'not-found',
      status: 404,
      title: 'Not found',
      detail: `no live entry for ${namespace}/${key}`,
    })
  }
  const headers = freshnessHeaders(entry, now())
  if (noneMatchHits(parseEtagList(ifNoneMatch), entry.etag)) return { status: 304, headers, body: null }
  const fields = { ...headers, 'content-type': entry.contentType, 'content-length': String(entry.value.byteLength) }
  return { status: 200, headers: fields, body: entry.value }
}
