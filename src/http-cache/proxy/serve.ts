// Turns a stored response into the HTTP response for one request: Age, Cache-Status, 304 for matching conditionals.
import { httpDate } from '../policy/http-date.ts'
import { currentAgeMs, type GetHeader } from '../policy/policy.ts'
import { cacheStatus } from '../policy/cache-status.ts'
import type { StoredAnswer } from './decide.ts'
import type { HeaderList } from '../headers.ts'
import type { Reply } from '../../http/reply.ts'
import { headerObject, replayHeaders } from '../record.ts'
import { PROBLEM_CONTENT_TYPE, problemBody } from '../../http/problem.ts'
import { byteRange, ifRangeHolds } from './ranges.ts'

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

/**
 * The full fields of the last full answer from each stored response, by the Cache-Status it was given and the whole
 * seconds of its Age and ttl: a hot URL is answered many times within one second, with the very same fields, and
 * building them again cost a tenth of a hit.
 */
const lastFields = new WeakMap<
  StoredAnswer['stored'],
  { status: StoredAnswer['status']; age: number; ttl: number; headers: Reply['headers'] }
>()

/** The reply to `request` from a stored response, with the Age and Cache-Status of this reuse. */
export function serveStored(answer: StoredAnswer, request: GetHeader, method: string, now: number): Reply {
  const { stored, status } = answer
  const ageMs = currentAgeMs(stored.facts, now)
  const age = Math.floor(ageMs / 1000) // RFC 9111 §5.1: sent on every reuse
  const ttl = Math.floor((stored.facts.freshnessMs - ageMs) / 1000)
  const dynamic = () => ({ age: String(age), 'cache-status': cacheStatus({ ...status, ttl }) })
  // A POST's answer served to the POST itself (pass.ts) keeps its status whatever the POST's preconditions.
  if (stored.facts.status === 200 && method !== 'POST' && clientConditionalMatches(stored, request)) {
    const kept = stored.headers.filter(([name]) => NOT_MODIFIED_FIELDS.has(name))
    return { status: 304, headers: responseHeaders(kept, dynamic()), body: null }
  }
  // Only a request decided as one range of a stored 200 (decide.ts) reads Range again: a plain hit pays nothing for it.
  const range = answer.range ? request('range') : null
  if (range != null && ifRangeHolds(stored.facts, request, () => dateOf(stored)))
    return partial(stored, range, dynamic())
  const bodyless = method === 'HEAD' || stored.facts.status === 204 || stored.facts.status === 304
  let last = lastFields.get(stored)
  if (last?.status !== status || last.age !== age || last.ttl !== ttl) {
    const headers = { ...replayHeaders(stored), ...dynamic(), 'content-length': String(stored.body.byteLength) }
    last = { status, age, ttl, headers }
    lastFields.set(stored, last)
  }
  return { status: stored.facts.status, headers: last.headers, body: bodyless ? null : stored.body }
}

/** RFC 9110 §14: 206 with the one range asked for, or 416 when none of it is in the stored body. */
function partial(stored: StoredAnswer['stored'], range: string, dynamic: Record<string, string>): Reply {
  const length = stored.body.byteLength
  const bytes = byteRange(range, length)
  if (bytes === 'unsatisfiable') {
    const problem = {
      kind: 'range-not-satisfiable',
      status: 416,
      title: 'Range not satisfiable',
      detail: `${JSON.stringify(range)} asks for none of the ${length} bytes of the stored response`,
    }
    const headers = { ...dynamic, 'content-type': PROBLEM_CONTENT_TYPE, 'content-range': `bytes */${length}` }
    return { status: 416, headers, body: problemBody(problem) }
  }
  const headers = {
    ...replayHeaders(stored),
    ...dynamic,
    'content-range': `bytes ${bytes.first}-${bytes.last}/${length}`,
    'content-length': String(bytes.last - bytes.first + 1),
  }
  return { status: 206, headers, body: stored.body.subarray(bytes.first, bytes.last + 1) }
}

/**
 * §4.3.2: does a client's conditional request match the stored response (answer 304)? If-Modified-Since compares
 * with Last-Modified or, without one, with the response's Date, else when it was received (RFC 9111 §4.3.2, RFC 9110
 * §13.1.3).
 */
export function clientConditionalMatches(stored: StoredAnswer['stored'], request: GetHeader): boolean {
  const { facts } = stored
  const inm = request('if-none-match')
  if (inm != null) {
    if (!facts.etag) return false
    if (inm.trim() === '*') return true
    const opaque = facts.etag.replace(/^W\//, '')
    return (inm.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => tag.replace(/^W\//, '') === opaque) // weak comparison
  }
  const ims = httpDate(request('if-modified-since'))
  if (ims === undefined) return false // most requests: no date to parse on the hit path
  const lastModified = facts.lastModified === undefined ? dateOf(stored) : httpDate(facts.lastModified)
  return lastModified !== undefined && lastModified <= ims
}

/** The stored response's Date, or when it was received when it has none (or an invalid one). */
function dateOf(stored: StoredAnswer['stored']): number {
  const date = stored.headers.find(([name]) => name === 'date')
  return httpDate(date?.[1]) ?? stored.facts.responseTime
}
