// Reads the caching fields of a request or a response (Cache-Control, the targeted fields of RFC 9213, Pragma, Date,
// Age, Expires, Last-Modified, ETag, Vary, surrogate keys) once, into typed records that the caching rules
// (policy.ts, decide.ts) read as data. Pure, no I/O.
import { httpDate } from './http-date.ts'
import { type Member, parseDictionary } from './structured-fields.ts'

/** Directive name (lower case) → argument, or true when it has none. */
export type Directives = ReadonlyMap<string, string | true>

/** Marks a directive given twice with different arguments: RFC 9111 §4.2.1 lets a cache treat it as stale. */
export const CONFLICT = '\u0000conflict'

/** Splits on commas outside quoted strings; unquotes arguments. */
export function parseCacheControl(value: string | null | undefined): Map<string, string | true> {
  const directives = new Map<string, string | true>()
  if (!value) return directives
  for (const part of splitOutsideQuotes(value)) {
    const eq = part.indexOf('=')
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase()
    if (!name) continue
    let arg: string | true = true
    if (eq !== -1) {
      const raw = part.slice(eq + 1).trim()
      arg = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw
    }
    const previous = directives.get(name)
    directives.set(name, previous !== undefined && previous !== arg ? CONFLICT : arg)
  }
  return directives
}

function splitOutsideQuotes(value: string): string[] {
  const parts: string[] = []
  let quoted = false
  let start = 0
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]
    if (ch === '"' && value[i - 1] !== '\\') quoted = !quoted
    else if (ch === ',' && !quoted) {
      parts.push(value.slice(start, i))
      start = i + 1
    }
  }
  parts.push(value.slice(start))
  return parts
}

/** Directives whose argument is delta-seconds: in a targeted field, a non-negative Integer (RFC 9213 §2.1). */
const SECONDS_DIRECTIVES = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error'])
/** Directives that take a list of field names: a String when qualified, else bare. */
const FIELD_LIST_DIRECTIVES = new Set(['no-cache', 'private'])
/** Directives that take no argument: bare (Boolean true) only. */
const BARE_DIRECTIVES = new Set([
  'no-store',
  'no-transform',
  'must-revalidate',
  'proxy-revalidate',
  'must-understand',
  'public',
  'immutable',
])

/**
 * A targeted field's directives (RFC 9213 §2.1): the value is a Structured Field Dictionary, and a member whose value
 * has a type its directive does not allow (max-age="600", max-age=1.5, public=1) makes the field invalid as a whole,
 * as one that does not parse does. Unknown directives take any value; parameters are ignored; `key=?0` is absent.
 */
function targetedField(value: string): Directives | undefined {
  const dictionary = parseDictionary(value)
  if (!dictionary) return undefined
  const directives = new Map<string, string | true>()
  for (const [name, member] of dictionary) {
    const argument = directiveArgument(name, member)
    if (argument === undefined) return undefined
    if (argument !== false) directives.set(name, argument)
  }
  return directives
}

/** The argument as Cache-Control's parser gives it; false for an absent directive, undefined for a wrong type. */
function directiveArgument(name: string, member: Member): string | true | false | undefined {
  if (!('item' in member)) return SECONDS_DIRECTIVES.has(name) || BARE_DIRECTIVES.has(name) ? undefined : true
  const { type, value } = member.item
  if (type === 'boolean' && !value) return false
  if (SECONDS_DIRECTIVES.has(name)) return type === 'integer' && value >= 0 ? String(value) : undefined
  if (BARE_DIRECTIVES.has(name)) return type === 'boolean' ? true : undefined
  if (FIELD_LIST_DIRECTIVES.has(name)) return type === 'boolean' ? true : type === 'string' ? value : undefined
  return type === 'boolean' ? true : String(value)
}

/**
 * RFC 9213 §2.2: the first targeted field with a valid, non-empty value decides the policy, and Cache-Control and
 * Expires are then ignored. An invalid targeted field is skipped, as if it were absent.
 */
export function targetedDirectives(
  get: (name: string) => string | null | undefined,
  fields: readonly string[],
): Directives | undefined {
  for (const field of fields) {
    const value = get(field)
    if (!value?.trim()) continue
    const directives = targetedField(value)
    if (directives) return directives
  }
  return undefined
}

/** RFC 9111 §1.2.2: delta-seconds; larger values are capped at 2^31; anything else is invalid (undefined). */
export function deltaSeconds(arg: string | true | undefined): number | undefined {
  if (typeof arg !== 'string' || !/^\d+$/.test(arg)) return undefined
  return Math.min(Number(arg), 2 ** 31)
}

type Get = (name: string) => string | null | undefined

/** The argument of `name` in ms: `invalid` when it is not delta-seconds, `bare` when it has none; undefined if absent. */
function argumentMs(cc: Directives, name: string, invalid: number, bare = invalid): number | undefined {
  const arg = cc.get(name)
  if (arg === undefined) return undefined
  if (arg === true) return bare
  const seconds = deltaSeconds(arg)
  return seconds === undefined ? invalid : seconds * 1000
}

/** A request's Cache-Control as the reuse rules read it (RFC 9111 §5.2.1). */
export interface RequestDirectives {
  readonly noCache: boolean
  readonly noStore: boolean
  readonly onlyIfCached: boolean
  /** max-age in ms (an invalid argument counts as 0); undefined without the directive. */
  readonly maxAgeMs: number | undefined
  /** min-fresh in ms (an invalid argument counts as 0); undefined without the directive. */
  readonly minFreshMs: number | undefined
  /** max-stale in ms: Infinity without an argument, negative for an invalid one (no staleness); undefined without. */
  readonly maxStaleMs: number | undefined
  /** stale-if-error in ms; 0 without the directive. */
  readonly staleIfErrorMs: number
}

function readRequestDirectives(cc: Directives): RequestDirectives {
  return {
    noCache: cc.has('no-cache'),
    noStore: cc.has('no-store'),
    onlyIfCached: cc.has('only-if-cached'),
    maxAgeMs: argumentMs(cc, 'max-age', 0),
    minFreshMs: argumentMs(cc, 'min-fresh', 0),
    // §5.2.1.2: without an argument any staleness is accepted; an invalid one accepts none.
    maxStaleMs: argumentMs(cc, 'max-stale', -1000, Infinity),
    staleIfErrorMs: argumentMs(cc, 'stale-if-error', 0) ?? 0,
  }
}

/** A request that says nothing about caching. */
export const NO_REQUEST_DIRECTIVES = readRequestDirectives(new Map())
const PRAGMA_NO_CACHE = readRequestDirectives(new Map([['no-cache', true]]))

/** Request directives; `Pragma: no-cache` counts as `no-cache` when there is no Cache-Control (RFC 9111 §5.4). */
export function requestDirectives(get: Get): RequestDirectives {
  const cc = get('cache-control')
  if (cc) return readRequestDirectives(parseCacheControl(cc))
  return /(^|,)\s*no-cache\s*(,|$)/i.test(get('pragma') ?? '') ? PRAGMA_NO_CACHE : NO_REQUEST_DIRECTIVES
}

const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/

/**
 * The field names of a qualified directive (`private="x-user, x-tier"`); undefined when it is unqualified, or when its
 * argument is no list of field names (it then counts as unqualified: the whole response is withheld, never less).
 */
function qualifiedFields(argument: string | true | undefined): string[] | undefined {
  if (typeof argument !== 'string' || argument === CONFLICT) return undefined
  const names = argument
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean)
  return names.length > 0 && names.every((name) => FIELD_NAME.test(name)) ? names : undefined
}

/** RFC 9213 target list, most specific first. */
const TARGETED_FIELDS = ['cachecar-cache-control', 'cdn-cache-control'] as const

/** A response's caching directives, from its most specific targeted field or else Cache-Control. */
export interface ResponseDirectives {
  /** False when a targeted field decided the policy: Expires is ignored then (RFC 9213 §2.2). */
  readonly expiresApplies: boolean
  readonly noStore: boolean
  readonly mustUnderstand: boolean
  /** Unqualified private: the response is one user's (§5.2.2.7). */
  readonly private: boolean
  readonly public: boolean
  /** Unqualified no-cache: validate before every reuse (§5.2.2.4). */
  readonly noCache: boolean
  /**
   * Fields named by qualified private="…" and no-cache="…" (§5.2.2.7, §5.2.2.4), lower case: the response is stored
   * without them, and only the client whose request fetched it sees them.
   */
  readonly withheldFields: readonly string[]
  readonly mustRevalidate: boolean
  readonly proxyRevalidate: boolean
  /** s-maxage in ms (invalid or given twice with different arguments: 0, stale per §4.2.1); undefined without it. */
  readonly sMaxAgeMs: number | undefined
  /** max-age in ms, as s-maxage. */
  readonly maxAgeMs: number | undefined
  /** stale-while-revalidate in ms (RFC 5861); 0 without it. */
  readonly swrMs: number
  /** stale-if-error in ms (RFC 5861); 0 without it. */
  readonly sieMs: number
}

export function responseDirectives(get: Get): ResponseDirectives {
  const targeted = targetedDirectives(get, TARGETED_FIELDS)
  const cc = targeted ?? parseCacheControl(get('cache-control'))
  const privateFields = qualifiedFields(cc.get('private'))
  const noCacheFields = qualifiedFields(cc.get('no-cache'))
  return {
    expiresApplies: !targeted,
    noStore: cc.has('no-store'),
    mustUnderstand: cc.has('must-understand'),
    private: privateFields === undefined && cc.has('private'),
    public: cc.has('public'),
    noCache: noCacheFields === undefined && cc.has('no-cache'),
    withheldFields: [...(privateFields ?? []), ...(noCacheFields ?? [])],
    mustRevalidate: cc.has('must-revalidate'),
    proxyRevalidate: cc.has('proxy-revalidate'),
    sMaxAgeMs: argumentMs(cc, 's-maxage', 0),
    maxAgeMs: argumentMs(cc, 'max-age', 0),
    swrMs: argumentMs(cc, 'stale-while-revalidate', 0) ?? 0,
    sieMs: argumentMs(cc, 'stale-if-error', 0) ?? 0,
  }
}

/** A response's caching fields: its directives, and what freshness, validation, Vary and purging read. */
export interface ResponseFields extends ResponseDirectives {
  /** Date; undefined when absent or invalid. */
  readonly dateMs: number | undefined
  /** Age (its first value) in ms; 0 when absent or invalid. */
  readonly ageMs: number
  /** Expires is present (an invalid one means already expired, RFC 9111 §5.3). */
  readonly hasExpires: boolean
  /** Expires; undefined when absent or invalid. */
  readonly expiresMs: number | undefined
  readonly etag: string | undefined
  readonly lastModified: string | undefined
  /** Last-Modified; undefined when absent or invalid. */
  readonly lastModifiedMs: number | undefined
  /** Lower-case field names of Vary, sorted. */
  readonly vary: readonly string[]
  /** Surrogate keys from Surrogate-Key and Cache-Tag, for purging. */
  readonly surrogateKeys: readonly string[]
  /** Set-Cookie is present. */
  readonly setCookie: boolean
}

export function responseFields(get: Get): ResponseFields {
  const expires = get('expires')
  const lastModified = get('last-modified') ?? undefined
  return {
    ...responseDirectives(get),
    dateMs: httpDate(get('date')),
    ageMs: (deltaSeconds(get('age')?.split(',')[0]?.trim()) ?? 0) * 1000,
    hasExpires: expires != null,
    expiresMs: httpDate(expires),
    etag: get('etag') ?? undefined,
    lastModified,
    lastModifiedMs: httpDate(lastModified),
    vary: (get('vary') ?? '')
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean)
      .sort(),
    surrogateKeys: [...(get('surrogate-key') ?? '').split(/\s+/), ...(get('cache-tag') ?? '').split(',')]
      .map((k) => k.trim())
      .filter(Boolean),
    setCookie: get('set-cookie') != null,
  }
}
