// Byte ranges served from a stored complete response (RFC 9110 §14): one range per request, `a-b`, `a-` or `-n`;
// If-Range decides whether the range or the whole response is sent. Requests for several ranges go upstream.
import { httpDate } from '../policy/http-date.ts'
import type { GetHeader, ResponseFacts } from '../policy/policy.ts'

const SINGLE = /^bytes=(\d*)-(\d*)$/i

/** A Range field the cache answers: one byte range, syntactically valid. Others (several ranges) go upstream. */
export function isSingleRange(range: string | null | undefined): boolean {
  const match = range ? SINGLE.exec(range.trim()) : null
  return match !== null && (match[1] !== '' || match[2] !== '')
}

/** The first and last byte of the range within `length` bytes; 'unsatisfiable' when none of it is there (§14.1.2). */
export function byteRange(range: string, length: number): { first: number; last: number } | 'unsatisfiable' {
  const [, from = '', to = ''] = SINGLE.exec(range.trim()) ?? []
  if (from === '') {
    // -n: the last n bytes
    const suffix = Number(to)
    if (suffix === 0 || length === 0) return 'unsatisfiable'
    return { first: Math.max(0, length - suffix), last: length - 1 }
  }
  const first = Number(from)
  const last = to === '' ? length - 1 : Math.min(Number(to), length - 1)
  if (first >= length || (to !== '' && Number(to) < first)) return 'unsatisfiable'
  return { first, last }
}

/**
 * §13.1.5: without If-Range the range applies; with it, only when it names the stored response: its strong ETag (a
 * weak one never matches), or its Last-Modified date exactly, when that is strong (at least a second before Date).
 */
export function ifRangeHolds(facts: ResponseFacts, request: GetHeader, dateMs: () => number): boolean {
  const ifRange = request('if-range')
  if (ifRange == null) return true
  const value = ifRange.trim()
  if (value.startsWith('"')) return facts.etag !== undefined && !facts.etag.startsWith('W/') && facts.etag === value
  if (value.startsWith('W/')) return false
  const date = httpDate(value)
  const lastModified = httpDate(facts.lastModified)
  return date !== undefined && lastModified !== undefined && date === lastModified && lastModified <= dateMs() - 1000
}
