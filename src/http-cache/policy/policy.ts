// RFC 9111 shared-cache rules as pure functions over fields read once (caching-fields.ts) and the clock. No I/O.
import {
  NO_REQUEST_DIRECTIVES,
  requestDirectives,
  responseFields,
  type RequestDirectives,
  type ResponseFields,
} from './caching-fields.ts'

/** Looks up a header by lower-case name; several field lines arrive joined with ", ". */
export type GetHeader = (name: string) => string | null | undefined

/**
 * Statuses cachecar understands (RFC 9111 §3 requires it for must-understand): their answers may also be stored on
 * the upstream's opt-in default TTL, which never applies to an error. Any other final status is stored only with
 * explicit freshness (max-age, s-maxage, Expires, public) or when heuristically cacheable.
 */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451])
/** RFC 9110 §15.1: heuristically cacheable statuses (206 aside: partial responses are not stored). */
const HEURISTIC = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
/** RFC 9111 §4.2.2 leaves the cap to the cache; a day is the common choice. */
const HEURISTIC_CAP_MS = 86_400_000

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
export type NotStoredReason = NotStorable | 'too-large' | 'close-delimited' | 'event-stream'

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
  'event-stream',
])

export function answerItselfUnstorable(reason: NotStoredReason | undefined): boolean {
  return reason !== undefined && ANSWER_ITSELF.has(reason)
}

/** The client's request as the storability decision sees it. */
export interface ClientRequest {
  readonly get: GetHeader
  /** It carries a credential-like field that counts as Authorization (request-fields.ts). */
  readonly credential: boolean
  /** It carries a field that shapes the answer without being keyed (request-fields.ts). */
  readonly unkeyed?: boolean
  readonly directives: RequestDirectives
}

/** A response as it arrives, for the storability decision. */
export interface Arrival {
  readonly method: string
  readonly client: ClientRequest
  readonly status: number
  readonly defaultTtlMs: number
  /** The upstream lets 5xx answers be stored (with explicit freshness); false keeps every 5xx out. */
  readonly store5xx?: boolean
  /** The response's Content-Location names the request's own URL (what lets a POST answer serve later GETs). */
  readonly contentLocationIsTarget?: boolean
}

/** A response as the cache judges it when it arrives: what later decisions need, and why it may not be stored. */
export interface Judged {
  readonly facts: ResponseFacts
  readonly notStorable: NotStorable | undefined
}

/** Facts and storability of a response whose fields were read once for both. */
export function judgeResponse(
  arrival: Arrival,
  fields: ResponseFields,
  requestTime: number,
  responseTime: number,
): Judged {
  const facts = factsOf(arrival.status, fields, requestTime, responseTime, arrival.defaultTtlMs)
  return { facts, notStorable: storability(arrival, fields, facts) }
}

/**
 * What no shared cache may keep, whoever asked (RFC 9111 §3, §5.2.2.3, §5.2.2.7; Set-Cookie is cachecar's choice, as
 * nginx's and Varnish's). Checked when a response is first stored and again at every write of a stored response (a
 * 304's fields merged in, a background refresh, a soft purge), so a later answer can never turn a stored response
 * into one that replays something private.
 */
export function neverStored(status: number, fields: ResponseFields): NotStorable | undefined {
  // Not final, partial (never combined here), or a 304 (it freshens a stored response, it is not one).
  if (status < 200 || status === 206 || status === 304 || status > 999) return 'status'
  // §5.2.2.3: must-understand forbids storing a status the cache does not understand.
  if (fields.mustUnderstand && !UNDERSTOOD.has(status)) return 'status'
  // §5.2.2.3: must-understand lets a cache that understands the status ignore no-store.
  if (fields.noStore && !fields.mustUnderstand) return 'no-store'
  if (fields.private) return 'private'
  // Personalised responses: a cookie set for one user must never reach another.
  if (fields.setCookie) return 'set-cookie'
  return undefined
}

/** The storability decision's input as the table tests give it: the request and the response as header getters. */
export interface StorabilityInput {
  readonly method: string
  readonly request: GetHeader
  /** The request carries a credential-like field that counts as Authorization (request-fields.ts). */
  readonly credential?: boolean
  readonly status: number
  readonly response: GetHeader
  readonly defaultTtlMs: number
  readonly store5xx?: boolean
  readonly contentLocationIsTarget?: boolean
  readonly unkeyed?: boolean
}

/** RFC 9111 §3 for a shared cache, plus cachecar's stricter choices; undefined means storable. */
export function notStorable(input: StorabilityInput, facts: ResponseFacts): NotStorable | undefined {
  const client = {
    get: input.request,
    credential: input.credential ?? false,
    unkeyed: input.unkeyed ?? false,
    directives: requestDirectives(input.request),
  }
  return storability({ ...input, client }, responseFields(input.response), facts)
}

function storability(arrival: Arrival, fields: ResponseFields, facts: ResponseFacts): NotStorable | undefined {
  const { client } = arrival
  const explicit =
    fields.sMaxAgeMs !== undefined || fields.maxAgeMs !== undefined || (fields.expiresApplies && fields.hasExpires)
  if (arrival.method !== 'GET' && !(arrival.method === 'POST' && postAnswersGets(arrival, explicit))) return 'method'
  if (client.directives.noStore) return 'request-no-store'
  const never = neverStored(arrival.status, fields)
  if (never) return never
  if (arrival.status >= 500 && arrival.store5xx === false) return 'status'
  // §3.5: a shared cache stores answers to authorized requests only when the response allows it explicitly.
  if (
    (client.get('authorization') || client.credential) &&
    !fields.public &&
    fields.sMaxAgeMs === undefined &&
    !fields.mustRevalidate
  )
    return 'authorization'
  if (facts.vary.includes('*')) return 'vary-star'
  // Cache deception: the answer to a request with a Cookie may be one user's page behind an innocent-looking URL
  // (/account/x.css on an upstream that ignores the suffix). Store it only when the upstream explicitly allows it,
  // never on heuristics or the operator's default TTL.
  if (client.get('cookie') && !explicit && !fields.public) return 'cookie'
  const byDefault = arrival.defaultTtlMs > 0 && UNDERSTOOD.has(arrival.status)
  if (!explicit && !fields.public && !HEURISTIC.has(arrival.status) && !byDefault) return 'status'
  // Never reusable: no freshness, no validator to revalidate with, no stale window.
  if (facts.freshnessMs <= 0 && !facts.etag && !facts.lastModified && facts.swrMs <= 0 && facts.sieMs <= 0)
    return 'not-reusable'
  return undefined
}

/**
 * RFC 9110 §9.3.3, §8.7: a POST's answer may serve later GETs of its URL when it carries explicit freshness and a
 * Content-Location naming that URL, so it is the resource's current representation. Only 200 and 203 carry one (a 201
 * describes what was created). A request field the key does not hold may have shaped it: not then.
 */
function postAnswersGets(arrival: Arrival, explicit: boolean): boolean {
  return (
    explicit &&
    arrival.contentLocationIsTarget === true &&
    (arrival.status === 200 || arrival.status === 203) &&
    arrival.client.unkeyed !== true
  )
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
  /** Fields stored responses leave out (qualified private / no-cache); absent in records older than the rule. */
  readonly withheldFields?: readonly string[]
  readonly etag: string | undefined
  readonly lastModified: string | undefined
  /** Lower-case field names of Vary. */
  readonly vary: readonly string[]
  /** Surrogate keys from Surrogate-Key / Cache-Tag, for purging. */
  readonly surrogateKeys: readonly string[]
}

export function responseFacts(
  status: number,
  get: GetHeader,
  requestTime: number,
  responseTime: number,
  defaultTtlMs: number,
): ResponseFacts {
  return factsOf(status, responseFields(get), requestTime, responseTime, defaultTtlMs)
}

function factsOf(
  status: number,
  fields: ResponseFields,
  requestTime: number,
  responseTime: number,
  defaultTtlMs: number,
): ResponseFacts {
  const date = fields.dateMs ?? responseTime
  // §4.2.3: Age calculation.
  const apparentAge = Math.max(0, responseTime - date)
  const correctedAgeValue = fields.ageMs + (responseTime - requestTime)
  const initialAgeMs = Math.max(apparentAge, correctedAgeValue)
  return {
    status,
    responseTime,
    initialAgeMs,
    freshnessMs: freshnessLifetime(status, fields, date, defaultTtlMs),
    swrMs: fields.swrMs,
    sieMs: fields.sieMs,
    noStale: fields.mustRevalidate || fields.proxyRevalidate || fields.sMaxAgeMs !== undefined,
    noCache: fields.noCache,
    ...(fields.withheldFields.length > 0 && { withheldFields: fields.withheldFields }),
    etag: fields.etag,
    lastModified: fields.lastModified,
    vary: fields.vary,
    surrogateKeys: fields.surrogateKeys,
  }
}

/** §4.2.1: s-maxage, then max-age, then Expires − Date, then the upstream's opt-in default, then heuristics. */
function freshnessLifetime(status: number, fields: ResponseFields, date: number, defaultTtlMs: number): number {
  // An invalid or conflicting argument makes the response stale (§4.2.1): it reads as 0.
  const explicit = fields.sMaxAgeMs ?? fields.maxAgeMs
  if (explicit !== undefined) return explicit
  if (fields.expiresApplies && fields.hasExpires) {
    const expires = fields.expiresMs
    return expires === undefined ? 0 : Math.max(0, expires - date) // §5.3: an invalid Expires means stale
  }
  if (defaultTtlMs > 0 && UNDERSTOOD.has(status)) return defaultTtlMs
  if (!HEURISTIC.has(status) && !fields.public) return 0
  const lastModified = fields.lastModifiedMs
  if (lastModified === undefined || lastModified >= date) return 0
  return Math.min(HEURISTIC_CAP_MS, Math.floor((date - lastModified) / 10)) // §4.2.2: 10 % of the age since modification
}

/** §4.2.3: current_age in ms. */
export function currentAgeMs(facts: ResponseFacts, now: number): number {
  return facts.initialAgeMs + Math.max(0, now - facts.responseTime)
}

export type Reuse = 'fresh' | 'stale-allowed' | 'stale-while-revalidate' | 'revalidate'

/** §4: may a stored response be reused for this request now, and how? */
export function reuse(facts: ResponseFacts, request: RequestDirectives, now: number): Reuse {
  const age = currentAgeMs(facts, now)
  if (facts.noCache || request.noCache) return 'revalidate' // §5.2.2.4, §5.2.1.4
  if (request.maxAgeMs !== undefined && age > request.maxAgeMs) return 'revalidate' // §5.2.1.1
  if (request.minFreshMs !== undefined && facts.freshnessMs - age < request.minFreshMs) return 'revalidate' // §5.2.1.3
  if (age < facts.freshnessMs) return 'fresh'
  if (facts.noStale) return 'revalidate'
  const staleness = age - facts.freshnessMs
  if (request.maxStaleMs !== undefined && staleness <= request.maxStaleMs) return 'stale-allowed' // §5.2.1.2
  if (staleness < facts.swrMs) return 'stale-while-revalidate' // RFC 5861 §3
  return 'revalidate'
}

/**
 * For Cache-Status when a stored response is revalidated: whether the request's own directives forced the trip
 * ('request'), or the response would have needed it for any request ('stale').
 */
export function revalidationCause(facts: ResponseFacts, now: number): 'request' | 'stale' {
  return reuse(facts, NO_REQUEST_DIRECTIVES, now) === 'revalidate' ? 'stale' : 'request'
}

/** RFC 5861 §4: may a stale response stand in for an upstream error (5xx, timeout, refused)? */
export function staleIfError(facts: ResponseFacts, request: RequestDirectives, now: number): boolean {
  if (facts.noStale) return false
  const staleness = currentAgeMs(facts, now) - facts.freshnessMs
  if (staleness <= 0) return true
  const window = Math.max(facts.sieMs, request.staleIfErrorMs)
  return staleness <= window || (request.maxStaleMs !== undefined && staleness <= request.maxStaleMs)
}

/** How long the store keeps a response: freshness plus the longest window in which it may still be used. */
export function retentionMs(facts: ResponseFacts, staleRetentionMs: number, unreachableMs = 0): number {
  const revalidatable = facts.etag !== undefined || facts.lastModified !== undefined
  // Kept for the upstream-unreachable window too (§4.2.4), unless the response forbids stale reuse.
  const grace = facts.noStale || facts.noCache ? 0 : unreachableMs
  const afterFresh = Math.max(facts.swrMs, facts.sieMs, revalidatable ? staleRetentionMs : 0, grace)
  return Math.max(1000, facts.freshnessMs - facts.initialAgeMs + afterFresh)
}

/** The secondary cache key (§4.1): the request's values of the fields named by Vary, normalised where that is safe. */
export function varyKey(vary: readonly string[], request: GetHeader): string {
  return JSON.stringify(
    vary.map((name) => {
      const value = (request(name) ?? '').trim()
      return (PREFERENCE_LISTS.has(name) && preferenceList(value)) || value.replace(/\s*,\s*/g, ',')
    }),
  )
}

/** Fields whose values are preference lists with q-values, where case is not significant (§4.1 permits normalising). */
const PREFERENCE_LISTS = new Set(['accept-encoding', 'accept-language'])
const PREFERENCE = /^([a-z0-9*][a-z0-9*._+-]*)\s*(?:;\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?))?$/

/**
 * `gzip;q=0.5, BR` and `br, gzip; q=0.50` ask for the same thing: lower case, q written once in one form, listed from
 * most to least preferred. Items of equal q keep their order (a server may break ties by it), so no two lists a server
 * could answer differently share a key. Undefined when the value does not parse: it is then keyed as sent.
 */
function preferenceList(value: string): string | undefined {
  if (value === '') return undefined
  const items: { token: string; q: number; at: number }[] = []
  for (const [at, part] of value.toLowerCase().split(',').entries()) {
    const match = PREFERENCE.exec(part.trim())
    if (!match) return undefined
    items.push({ token: match[1]!, q: match[2] === undefined ? 1 : Number(match[2]), at })
  }
  items.sort((a, b) => b.q - a.q || a.at - b.at)
  return items.map(({ token, q }) => (q === 1 ? token : `${token};q=${q}`)).join(',')
}
