// RFC 9111 shared-cache rules as pure functions: request + response + clock → decision. No I/O.
import { CONFLICT, deltaSeconds, parseCacheControl, targetedDirectives, type Directives } from './cache-control.ts'

/** Looks up a header by lower-case name; several field lines arrive joined with ", ". */
export type GetHeader = (name: string) => string | null | undefined

/** RFC 9213 target list, most specific first. */
export const TARGETED_FIELDS = ['cachecar-cache-control', 'cdn-cache-control'] as const

/** Final statuses cachecar understands well enough to store (RFC 9111 §3; 206 and 5xx are never stored). */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451])
/** RFC 9110 §15.1: heuristically cacheable statuses (those of them cachecar stores). */
const HEURISTIC = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414])
/** RFC 9111 §4.2.2 leaves the cap to the cache; a day is the common choice. */
const HEURISTIC_CAP_MS = 86_400_000

export interface ResponseDirectives {
  readonly directives: Directives
  /** False when a targeted field decided the policy: Expires is ignored then (RFC 9213 §2.2). */
  readonly expiresApplies: boolean
}

export function responseDirectives(get: GetHeader): ResponseDirectives {
  const targeted = targetedDirectives(get, TARGETED_FIELDS)
  return targeted
    ? { directives: targeted, expiresApplies: false }
    : { directives: parseCacheControl(get('cache-control')), expiresApplies: true }
}

/** Request directives; `Pragma: no-cache` counts as `no-cache` when there is no Cache-Control (RFC 9111 §5.4). */
export function requestDirectives(get: GetHeader): Directives {
  const cc = get('cache-control')
  if (cc) return parseCacheControl(cc)
  return /(^|,)\s*no-cache\s*(,|$)/i.test(get('pragma') ?? '') ? new Map([['no-cache', true]]) : new Map()
}

export type NotStorable =
  | 'method'
  | 'status'
  | 'request-no-store'
  | 'no-store'
  | 'private'
  | 'authorization'
  | 'set-cookie'
  | 'cookie'
  | 'vary-star'
  | 'not-reusable'

/** Why a response was not stored, including the limits of the fill itself (forward.ts). */
export type NotStoredReason = NotStorable | 'too-large' | 'close-delimited'

/**
 * Reasons that hold for the URL's answer whoever asks it; the others are this request's own (its Cookie, its
 * Authorization, its no-store), and say nothing about what another request would get.
 */
const ANSWER_ITSELF: ReadonlySet<NotStoredReason> = new Set([
  'status',
  'no-store',
  'private',
  'set-cookie',
  'vary-star',
  'not-reusable',
  'too-large',
  'close-delimited',
])

export function answerItselfUnstorable(reason: NotStoredReason | undefined): boolean {
  return reason !== undefined && ANSWER_ITSELF.has(reason)
}

export interface StorabilityInput {
  readonly method: string
  readonly request: GetHeader
  /** The request carries a credential-like field that counts as Authorization (request-fields.ts). */
  readonly credential?: boolean
  readonly status: number
  readonly response: GetHeader
  readonly defaultTtlMs: number
}

/**
 * What no shared cache may keep, whoever asked (RFC 9111 §3, §5.2.2.3, §5.2.2.7; Set-Cookie is cachecar's choice, as
 * nginx's and Varnish's). Checked when a response is first stored and again at every write of a stored response (a
 * 304's fields merged in, a background refresh, a soft purge), so a later answer can never turn a stored response
 * into one that replays something private.
 */
export function neverStored(
  status: number,
  response: GetHeader,
  cc: Directives = responseDirectives(response).directives,
): NotStorable | undefined {
  if (!UNDERSTOOD.has(status)) return 'status'
  // §5.2.2.3: must-understand lets a cache that understands the status ignore no-store.
  if (cc.has('no-store') && !cc.has('must-understand')) return 'no-store'
  if (cc.has('private')) return 'private'
  // Personalised responses: a cookie set for one user must never reach another.
  if (response('set-cookie') != null) return 'set-cookie'
  return undefined
}

/** RFC 9111 §3 for a shared cache, plus cachecar's stricter choices; undefined means storable. */
export function notStorable(input: StorabilityInput, facts: ResponseFacts): NotStorable | undefined {
  const { directives: cc, expiresApplies } = responseDirectives(input.response)
  const req = requestDirectives(input.request)
  if (input.method !== 'GET') return 'method'
  if (req.has('no-store')) return 'request-no-store'
  const never = neverStored(input.status, input.response, cc)
  if (never) return never
  // §3.5: a shared cache stores answers to authorized requests only when the response allows it explicitly.
  if (
    (input.request('authorization') || input.credential) &&
    !cc.has('public') &&
    !cc.has('s-maxage') &&
    !cc.has('must-revalidate')
  )
    return 'authorization'
  if (facts.vary.includes('*')) return 'vary-star'
  const explicit = cc.has('s-maxage') || cc.has('max-age') || (expiresApplies && input.response('expires') != null)
  // Cache deception: the answer to a request with a Cookie may be one user's page behind an innocent-looking URL
  // (/account/x.css on an upstream that ignores the suffix). Store it only when the upstream explicitly allows it,
  // never on heuristics or the operator's default TTL.
  if (input.request('cookie') && !explicit && !cc.has('public')) return 'cookie'
  if (!explicit && !cc.has('public') && !HEURISTIC.has(input.status) && input.defaultTtlMs <= 0) return 'status'
  // Never reusable: no freshness, no validator to revalidate with, no stale window.
  if (facts.freshnessMs <= 0 && !facts.etag && !facts.lastModified && facts.swrMs <= 0 && facts.sieMs <= 0)
    return 'not-reusable'
  return undefined
}

/** Everything a stored response needs for later decisions, computed once when it is stored or refreshed. */
export interface ResponseFacts {
  readonly status: number
  /** When the response was received (epoch ms). */
  readonly responseTime: number
  /** corrected_initial_age of RFC 9111 §4.2.3, in ms. */
  readonly initialAgeMs: number
  readonly freshnessMs: number
  readonly swrMs: number
  readonly sieMs: number
  /** must-revalidate, proxy-revalidate or s-maxage: never served stale (§4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10). */
  readonly noStale: boolean
  /** Response no-cache: validate before every reuse (§5.2.2.4). */
  readonly noCache: boolean
  readonly etag: string | undefined
  readonly lastModified: string | undefined
  /** Lower-case field names of Vary. */
  readonly vary: readonly string[]
  /** Surrogate keys from Surrogate-Key / Cache-Tag, for purging. */
  readonly surrogateKeys: readonly string[]
}

function httpDate(value: string | null | undefined): number | undefined {
  if (!value) return undefined
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : ms
}

export function responseFacts(
  status: number,
  get: GetHeader,
  requestTime: number,
  responseTime: number,
  defaultTtlMs: number,
): ResponseFacts {
  const { directives: cc, expiresApplies } = responseDirectives(get)
  const date = httpDate(get('date')) ?? responseTime
  // §4.2.3: Age calculation.
  const ageValue = (deltaSeconds(get('age')?.split(',')[0]?.trim()) ?? 0) * 1000
  const apparentAge = Math.max(0, responseTime - date)
  const correctedAgeValue = ageValue + (responseTime - requestTime)
  const initialAgeMs = Math.max(apparentAge, correctedAgeValue)
  return {
    status,
    responseTime,
    initialAgeMs,
    freshnessMs: freshnessLifetime(status, cc, expiresApplies, get, date, defaultTtlMs),
    swrMs: (deltaSeconds(cc.get('stale-while-revalidate')) ?? 0) * 1000,
    sieMs: (deltaSeconds(cc.get('stale-if-error')) ?? 0) * 1000,
    noStale: cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage'),
    noCache: cc.has('no-cache'),
    etag: get('etag') ?? undefined,
    lastModified: get('last-modified') ?? undefined,
    vary: (get('vary') ?? '')
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean)
      .sort(),
    surrogateKeys: [...(get('surrogate-key') ?? '').split(/\s+/), ...(get('cache-tag') ?? '').split(',')]
      .map((k) => k.trim())
      .filter(Boolean),
  }
}

/** §4.2.1: s-maxage, then max-age, then Expires − Date, then the upstream's opt-in default, then heuristics. */
function freshnessLifetime(
  status: number,
  cc: Directives,
  expiresApplies: boolean,
  get: GetHeader,
  date: number,
  defaultTtlMs: number,
): number {
  for (const name of ['s-maxage', 'max-age']) {
    const arg = cc.get(name)
    if (arg === undefined) continue
    // An invalid or conflicting argument makes the response stale (§4.2.1).
    return arg === CONFLICT ? 0 : (deltaSeconds(arg) ?? 0) * 1000
  }
  if (expiresApplies && get('expires') != null) {
    const expires = httpDate(get('expires'))
    return expires === undefined ? 0 : Math.max(0, expires - date) // §5.3: an invalid Expires means stale
  }
  if (defaultTtlMs > 0) return defaultTtlMs
  if (!HEURISTIC.has(status) && !cc.has('public')) return 0
  const lastModified = httpDate(get('last-modified'))
  if (lastModified === undefined || lastModified >= date) return 0
  return Math.min(HEURISTIC_CAP_MS, Math.floor((date - lastModified) / 10)) // §4.2.2: 10 % of the age since modification
}

/** §4.2.3: current_age in ms. */
export function currentAgeMs(facts: ResponseFacts, now: number): number {
  return facts.initialAgeMs + Math.max(0, now - facts.responseTime)
}

export type Reuse = 'fresh' | 'stale-allowed' | 'stale-while-revalidate' | 'revalidate'

/** §4: may a stored response be reused for this request now, and how? */
export function reuse(facts: ResponseFacts, request: Directives, now: number): Reuse {
  const age = currentAgeMs(facts, now)
  if (facts.noCache || request.has('no-cache')) return 'revalidate' // §5.2.2.4, §5.2.1.4
  const maxAge = request.get('max-age')
  if (maxAge !== undefined && age > (deltaSeconds(maxAge) ?? 0) * 1000) return 'revalidate' // §5.2.1.1
  const minFresh = request.get('min-fresh')
  if (minFresh !== undefined && facts.freshnessMs - age < (deltaSeconds(minFresh) ?? 0) * 1000) return 'revalidate' // §5.2.1.3
  if (age < facts.freshnessMs) return 'fresh'
  if (facts.noStale) return 'revalidate'
  const staleness = age - facts.freshnessMs
  const maxStale = request.get('max-stale') // §5.2.1.2: without an argument any staleness is accepted
  if (maxStale === true || (maxStale !== undefined && staleness <= (deltaSeconds(maxStale) ?? -1) * 1000))
    return 'stale-allowed'
  if (staleness < facts.swrMs) return 'stale-while-revalidate' // RFC 5861 §3
  return 'revalidate'
}

/**
 * For Cache-Status when a stored response is revalidated: whether the request's own directives forced the trip
 * ('request'), or the response would have needed it for any request ('stale').
 */
export function revalidationCause(facts: ResponseFacts, now: number): 'request' | 'stale' {
  return reuse(facts, new Map(), now) === 'revalidate' ? 'stale' : 'request'
}

/** RFC 5861 §4: may a stale response stand in for an upstream error (5xx, timeout, refused)? */
export function staleIfError(facts: ResponseFacts, request: Directives, now: number): boolean {
  if (facts.noStale) return false
  const staleness = currentAgeMs(facts, now) - facts.freshnessMs
  if (staleness <= 0) return true
  const window = Math.max(facts.sieMs, (deltaSeconds(request.get('stale-if-error')) ?? 0) * 1000)
  const maxStale = request.get('max-stale')
  if (maxStale === true) return true
  return staleness <= window || (maxStale !== undefined && staleness <= (deltaSeconds(maxStale) ?? -1) * 1000)
}

/** How long the store keeps a response: freshness plus the longest window in which it may still be used. */
export function retentionMs(facts: ResponseFacts, staleRetentionMs: number): number {
  const revalidatable = facts.etag !== undefined || facts.lastModified !== undefined
  const afterFresh = Math.max(facts.swrMs, facts.sieMs, revalidatable ? staleRetentionMs : 0)
  return Math.max(1000, facts.freshnessMs - facts.initialAgeMs + afterFresh)
}

/** The secondary cache key (§4.1): the request's values of the fields named by Vary. */
export function varyKey(vary: readonly string[], request: GetHeader): string {
  return JSON.stringify(vary.map((name) => (request(name) ?? '').trim().replace(/\s*,\s*/g, ',')))
}

/** §4.3.2: does a client's conditional request match the stored response (answer 304)? */
export function clientConditionalMatches(facts: ResponseFacts, request: GetHeader): boolean {
  const inm = request('if-none-match')
  if (inm != null) {
    if (!facts.etag) return false
    if (inm.trim() === '*') return true
    const opaque = facts.etag.replace(/^W\//, '')
    return (inm.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => tag.replace(/^W\//, '') === opaque) // weak comparison
  }
  const ims = httpDate(request('if-modified-since'))
  const lastModified = httpDate(facts.lastModified)
  return ims !== undefined && lastModified !== undefined && lastModified <= ims
}
