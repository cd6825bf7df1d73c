// The proxy's decisions for one request, as pure functions over what is known (no I/O): before the lookup (may the
// cache answer at all?), after it (serve, validate, fetch or pass, with the Cache-Status to answer under), and once
// the upstream failed (may the stale copy stand in?).
import type { CacheStatus, Forward } from '../policy/cache-status.ts'
import type { MissOutcome } from './flights.ts'
import type { RequestDirectives } from '../policy/caching-fields.ts'
import {
  type GetHeader,
  type Reuse,
  currentAgeMs,
  reuse,
  revalidationCause,
  staleIfError,
  varyKey,
} from '../policy/policy.ts'
import type { StoredResponse } from '../record.ts'
import type { Lookup } from '../response-cache.ts'

/** What the decisions read of the request. */
export interface RequestFacts {
  readonly method: string
  readonly directives: RequestDirectives
  /** A GET carrying Range: 'single' for one byte range (answered from a fresh stored response), 'other' for the rest. */
  readonly range: 'none' | 'single' | 'other'
  /** It carries a field that shapes the answer without being keyed (request-fields.ts). */
  readonly unkeyed: boolean
}

/** A stored response chosen to answer with, the Cache-Status it is answered under, and the event it counts as. */
export interface StoredAnswer {
  readonly stored: StoredResponse
  readonly status: CacheStatus
  /** None for a fill's own answer: its miss or revalidation was counted when it went upstream. */
  readonly event?: 'hit' | 'stale' | 'collapsed' | 'revalidated-304'
  /** The request asks for one byte range of it (serve.ts cuts it). */
  readonly range?: true
}

export type Action =
  /** Forward uncached (a successful unsafe method invalidates what it may have changed). */
  | { readonly act: 'pass'; readonly fwd: 'method' | 'bypass' | 'uri-miss' | 'vary-miss'; readonly detail?: string }
  /** Answer from the stored response; `refresh`: validate it in the background meanwhile (stale-while-revalidate). */
  | (StoredAnswer & { readonly act: 'serve'; readonly refresh: boolean })
  /** Ask the upstream whether the stored response is still good (RFC 9111 §4.3). */
  | { readonly act: 'validate'; readonly stored: StoredResponse; readonly fwd: 'stale' | 'request' }
  /** A miss to fill from the upstream. */
  | { readonly act: 'fetch'; readonly fwd: 'uri-miss' | 'vary-miss' }
  /** only-if-cached, and nothing usable stored: 504 (RFC 9111 §5.2.1.7); `fwd` says why it would have gone upstream. */
  | { readonly act: 'not-cached'; readonly fwd: Forward }

const BY_METHOD: Action = { act: 'pass', fwd: 'method' }
const RANGED: Action = { act: 'pass', fwd: 'bypass', detail: 'range' }
const UNKEYED: Action = { act: 'pass', fwd: 'bypass', detail: 'unkeyed-header' }

/** The Cache-Status of each way a stored response is reused without asking the upstream. */
const REUSED: Record<Exclude<Reuse, 'revalidate'>, CacheStatus> = {
  fresh: { hit: true },
  'stale-allowed': { hit: true, fwd: 'stale', detail: 'max-stale' },
  'stale-while-revalidate': { hit: true, fwd: 'stale', detail: 'stale-while-revalidate' },
}

const SHARED_HIT: CacheStatus = { hit: true, detail: 'shared' }

/** Requests the cache never answers, decided before any lookup; undefined when the cache is to be asked. */
export function beforeLookup(request: RequestFacts): Action | undefined {
  if (request.method !== 'GET' && request.method !== 'HEAD') return BY_METHOD
  // Partial responses are never stored: requests for several ranges go straight through; one range is answered from a
  // fresh stored response when there is one (afterLookup).
  if (request.range === 'other') return RANGED
  // Uncached both ways: the answer may depend on a field the key does not hold.
  if (request.unkeyed) return UNKEYED
  return undefined
}

/** RFC 9111 §4: what to do with what the lookup found. */
export function afterLookup(request: RequestFacts, lookup: Lookup, now: number): Action {
  if (request.range === 'single') return rangeAfterLookup(request, lookup, now)
  if (lookup.kind === 'hit') {
    const stored = lookup.response
    const decision = reuse(stored.facts, request.directives, now)
    if (decision !== 'revalidate') {
      const refresh = decision === 'stale-while-revalidate'
      // Another task's fetch, waited for (cross-task coalescing): collapsed, as a waiter on this task's own fetch is.
      if (lookup.source === 'collapsed' && decision === 'fresh') {
        const status: CacheStatus = { fwd: 'uri-miss', fwdStatus: stored.facts.status, collapsed: true }
        return { act: 'serve', stored, status, event: 'collapsed', refresh }
      }
      const event = decision === 'fresh' ? 'hit' : 'stale'
      // Found in the shared tier, not this task's memory or disk: said with the hit (a stale one keeps its reason).
      const status = lookup.source === 'shared' && decision === 'fresh' ? SHARED_HIT : REUSED[decision]
      return { act: 'serve', stored, status, event, refresh }
    }
    const fwd = revalidationCause(stored.facts, now)
    if (request.directives.onlyIfCached) return { act: 'not-cached', fwd }
    return { act: 'validate', stored, fwd }
  }
  if (request.directives.onlyIfCached) return { act: 'not-cached', fwd: lookup.kind }
  return request.method === 'GET' ? { act: 'fetch', fwd: lookup.kind } : { act: 'pass', fwd: lookup.kind }
}

/**
 * One range: served from a fresh stored 200 (serve.ts cuts it). A miss fetches the whole response and a stale 200 is
 * validated, and the range is cut from what they store, as Varnish does: a range request fills the cache (a response
 * that cannot be stored sends the request upstream as it came, fill.ts). Any other stored status goes upstream as is.
 */
function rangeAfterLookup(request: RequestFacts, lookup: Lookup, now: number): Action {
  const stored = lookup.kind === 'hit' ? lookup.response : undefined
  if (stored?.facts.status === 200 && reuse(stored.facts, request.directives, now) === 'fresh')
    return { act: 'serve', stored, status: REUSED.fresh, event: 'hit', refresh: false, range: true }
  // only-if-cached forbids going upstream, with a range as without (RFC 9111 §5.2.1.7).
  if (request.directives.onlyIfCached) return { act: 'not-cached', fwd: lookup.kind === 'hit' ? 'stale' : lookup.kind }
  if (lookup.kind !== 'hit') return { act: 'fetch', fwd: lookup.kind }
  const { response } = lookup
  return response.facts.status === 200
    ? { act: 'validate', stored: response, fwd: revalidationCause(response.facts, now) }
    : RANGED
}

/**
 * RFC 5861 §4: when the upstream gave no answer, or answered `fwdStatus` (5xx), the stale stored response stands in
 * for the error if stale-if-error (the response's or the request's) allows it; undefined when it may not.
 */
export function staleForError(
  stored: StoredResponse | undefined,
  directives: RequestDirectives,
  now: number,
  fwdStatus?: number,
): StoredAnswer | undefined {
  if (!stored || !staleIfError(stored.facts, directives, now)) return undefined
  const status: CacheStatus = { hit: true, fwd: 'stale', detail: 'stale-if-error' }
  return { stored, status: fwdStatus === undefined ? status : { ...status, fwdStatus }, event: 'stale' }
}

/**
 * RFC 9111 §4.2.4: a cache cut off from the upstream (refused, reset, timed out) may serve a stale response, as
 * Varnish's grace does: within `windowMs` of going stale, unless the response forbids stale reuse (must-revalidate,
 * proxy-revalidate, s-maxage, no-cache) or the request insists on validation (no-cache). Undefined when it may not.
 */
export function staleWhenUnreachable(
  stored: StoredResponse | undefined,
  directives: RequestDirectives,
  now: number,
  windowMs: number,
): StoredAnswer | undefined {
  if (!stored || stored.facts.noStale || stored.facts.noCache || directives.noCache) return undefined
  if (currentAgeMs(stored.facts, now) - stored.facts.freshnessMs > windowMs) return undefined
  return { stored, status: UNREACHABLE, event: 'stale' }
}

const UNREACHABLE: CacheStatus = { hit: true, fwd: 'stale', detail: 'upstream-unreachable' }

/**
 * A request that waited on another's trip upstream for its URL: answered from the response that trip stored, when it
 * stored one for this request's variant; undefined when it must go upstream itself.
 */
export function fromLeader(outcome: MissOutcome, request: GetHeader, fwd: Forward): StoredAnswer | undefined {
  if (outcome.kind !== 'stored' || outcome.varyKey !== varyKey(outcome.response.facts.vary, request)) return undefined
  const status: CacheStatus = { fwd, fwdStatus: outcome.response.facts.status, collapsed: true }
  return { stored: outcome.response, status, event: 'collapsed' }
}
