// The answer to a validation (RFC 9111 §4.3.4): the stored response merged with the 304's fields and judged anew as a
// fresh response would be, then stored again, or dropped once the upstream's latest word forbids storing it.
import { responseFields } from '../policy/caching-fields.ts'
import type { Forward } from '../policy/cache-status.ts'
import type { StoredAnswer } from './decide.ts'
import type { Exchange } from './exchange.ts'
import type { Settle } from './flights.ts'
import { type Forwarded, withoutWithheld } from './forward.ts'
import { getter, type HeaderList } from '../headers.ts'
import { judgeResponse, varyKey, type ClientRequest, type NotStorable } from '../policy/policy.ts'
import type { StoredResponse } from '../record.ts'

/** Fields of a 304 never merged into a stored response: recomputed on every reuse, or one user's own (Set-Cookie). */
const NOT_MERGED = new Set(['content-length', 'age', 'set-cookie'])

export interface Merged {
  /** The stored response with the 304's fields (RFC 9111 §4.3.4), freshness computed anew. */
  readonly response: StoredResponse
  /** The same, plus the 304's Set-Cookie fields: only ever sent to the client whose request drew the 304. */
  readonly forClient: StoredResponse
  /** Why the merged response may not be stored, by the same decision as a fresh response's. */
  readonly notStorable: NotStorable | undefined
}

/** RFC 9111 §4.3.4: the 304's fields replace the stored ones, and the result is judged as if it were a new response. */
export function mergeNotModified(
  stored: StoredResponse,
  notModified: Forwarded,
  client: ClientRequest,
  defaultTtlMs: number,
): Merged {
  const replaced = new Set(notModified.headers.map(([name]) => name).filter((name) => !NOT_MERGED.has(name)))
  const headers: HeaderList = [
    ...stored.headers.filter(([name]) => !replaced.has(name)),
    ...notModified.headers.filter(([name]) => replaced.has(name)),
  ]
  const personal = notModified.headers.filter(([name]) => name === 'set-cookie')
  const asReceived = getter([
    ...headers,
    ...notModified.headers.filter(([name]) => name === 'age' || name === 'set-cookie'),
  ])
  const { facts, notStorable } = judgeResponse(
    { method: 'GET', client, status: stored.facts.status, defaultTtlMs },
    responseFields(asReceived),
    notModified.requestTime,
    notModified.facts.responseTime,
  )
  // Qualified private / no-cache fields of the merged response reach only this client, as its Set-Cookie does.
  const kept = withoutWithheld(facts, headers)
  const response = { facts, headers: kept, body: stored.body }
  return {
    response,
    forClient: personal.length > 0 || kept !== headers ? { ...response, headers: [...headers, ...personal] } : response,
    notStorable,
  }
}

/** A 304 to a validation: the stored response, refreshed with its fields, is stored again and served. */
export async function notModified(
  ex: Exchange,
  stored: StoredResponse,
  forwarded: Forwarded,
  fwd: Forward,
  settle: Settle,
): Promise<StoredAnswer> {
  forwarded.body.resume()
  const merged = mergeNotModified(stored, forwarded, ex.client, ex.upstream.config.defaultTtlMs)
  const event = 'revalidated-304'
  if (merged.notStorable) {
    // The upstream's latest word makes the response unstorable: this client gets it (cookie included), nobody else.
    settle({ kind: 'not-stored' })
    await ex.dropUnstorable(merged.notStorable)
    return { stored: merged.forClient, status: { fwd, fwdStatus: 304, detail: merged.notStorable }, event }
  }
  await ex.store(merged.response)
  settle({ kind: 'stored', response: merged.response, varyKey: varyKey(merged.response.facts.vary, ex.request) })
  return { stored: merged.response, status: { fwd, fwdStatus: 304, stored: true }, event }
}
