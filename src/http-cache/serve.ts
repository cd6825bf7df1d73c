// Turns a stored response into the HTTP response for one request: Age, Cache-Status, 304 for matching conditionals.
import type { GetHeader } from './policy.ts'
import { clientConditionalMatches, currentAgeMs } from './policy.ts'
import { cacheStatus, type CacheStatus } from './cache-status.ts'
import type { HeaderList } from './headers.ts'
import type { Reply } from './answer.ts'
import { headerObject, replayHeaders, type StoredResponse } from './record.ts'

/**
 * Fields a 304 carries (RFC 9110 §15.4.5), and Set-Cookie: a stored response never holds one, so it is there only when
 * the upstream's own 304 set a cookie for this very client.
 */
const NOT_MODIFIED_FIELDS = new Set([
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'vary',
  'last-modified',
  'set-cookie',
])
/** Fields recomputed on every reuse. */
const RECOMPUTED = new Set(['age', 'content-length', 'cache-status'])

/** `list` as one field set, without the recomputed ones, then `extra` over it. */
function responseHeaders(list: HeaderList, extra: Record<string, string>): Record<string, string | string[]> {
  return Object.assign(headerObject(list, RECOMPUTED), extra)
}

export function serveStored(
  stored: StoredResponse,
  request: GetHeader,
  method: string,
  now: number,
  status: CacheStatus,
): Reply {
  const age = currentAgeMs(stored.facts, now)
  const dynamic = {
    age: String(Math.floor(age / 1000)), // RFC 9111 §5.1: sent on every reuse
    'cache-status': cacheStatus({ ...status, ttl: (stored.facts.freshnessMs - age) / 1000 }),
  }
  if (stored.facts.status === 200 && clientConditionalMatches(stored.facts, request)) {
    const kept = stored.headers.filter(([name]) => NOT_MODIFIED_FIELDS.has(name))
    return { status: 304, headers: responseHeaders(kept, dynamic), body: null }
  }
  const bodyless = method === 'HEAD' || stored.facts.status === 204 || stored.facts.status === 304
  const headers = { ...replayHeaders(stored), ...dynamic, 'content-length': String(stored.body.byteLength) }
  return { status: stored.facts.status, headers, body: bodyless ? null : stored.body }
}
