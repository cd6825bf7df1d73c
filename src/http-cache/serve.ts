// Turns a stored response into the HTTP response for one request: Age, Cache-Status, 304 for matching conditionals.
import type { GetHeader } from './policy.ts'
import { clientConditionalMatches, currentAgeMs } from './policy.ts'
import { cacheStatus, type CacheStatus } from './cache-status.ts'
import type { HeaderList } from './headers.ts'
import { replayHeaders, type StoredResponse } from './record.ts'

/** Fields a 304 carries (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'])
/** Fields recomputed on every reuse. */
const RECOMPUTED = new Set(['age', 'content-length', 'cache-status'])

export function responseHeaders(list: HeaderList, extra: HeaderList): Headers {
  const headers = new Headers()
  for (const [name, value] of list) if (!RECOMPUTED.has(name)) headers.append(name, value)
  for (const [name, value] of extra) headers.set(name, value)
  return headers
}

export function serveStored(stored: StoredResponse, request: GetHeader, method: string, now: number, status: CacheStatus): Response {
  const age = currentAgeMs(stored.facts, now)
  const dynamic = {
    age: String(Math.floor(age / 1000)), // RFC 9111 §5.1: sent on every reuse
    'cache-status': cacheStatus({ ...status, ttl: (stored.facts.freshnessMs - age) / 1000 }),
  }
  if (stored.facts.status === 200 && clientConditionalMatches(stored.facts, request)) {
    const kept = stored.headers.filter(([name]) => NOT_MODIFIED_FIELDS.has(name))
    return new Response(null, { status: 304, headers: responseHeaders(kept, Object.entries(dynamic)) })
  }
  const bodyless = method === 'HEAD' || stored.facts.status === 204 || stored.facts.status === 304
  const headers = { ...replayHeaders(stored), ...dynamic, 'content-length': String(stored.body.byteLength) }
  return new Response(bodyless ? null : (stored.body as Uint8Array<ArrayBuffer>), { status: stored.facts.status, headers })
}
