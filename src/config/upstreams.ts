// Parses CACHECAR_UPSTREAMS and the per-upstream CACHECAR_UPSTREAM_<NAME>_* settings.
import { maskedUrl } from './spec.ts'
import { parseDuration, parseSize } from './units.ts'

export interface UpstreamConfig {
  /** The name in /u/<name>/…: the only thing a request says about where it goes. */
  readonly name: string
  /** Origin plus optional base path, without a trailing slash: "https://api.example.com/base". */
  readonly origin: string
  readonly basePath: string
  readonly connections: number
  readonly connectTimeoutMs: number
  readonly headersTimeoutMs: number
  readonly bodyTimeoutMs: number
  /** Opt-in freshness for responses that carry no freshness information at all; 0 = off. */
  readonly defaultTtlMs: number
  /** Larger responses stream through without being buffered or stored. */
  readonly maxObjectBytes: number
  /** Larger request bodies are refused with 413. */
  readonly maxRequestBytes: number
  /** How long a stale response is kept for revalidation and stale-if-error after its freshness ends. */
  readonly staleRetentionMs: number
  /** More request fields (lower case) that change the answer without being keyed: requests with one bypass the cache. */
  readonly unkeyedFields: readonly string[]
  /** More request fields (lower case) that carry a credential, treated like Authorization with a default TTL on. */
  readonly credentialFields: readonly string[]
  /** 5xx answers with explicit freshness are stored (RFC 9111 §3); false keeps every 5xx out of the cache. */
  readonly store5xx: boolean
  /**
   * How long after going stale a stored response still stands in when the upstream cannot be reached (refused,
   * reset, timed out); -1 (the default): as long as it is kept (staleRetentionMs); 0: never.
   */
  readonly staleIfUnreachableMs: number
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/

type OptionKey = Exclude<keyof UpstreamConfig, 'name' | 'origin' | 'basePath'>

interface Option<K extends OptionKey = OptionKey> {
  readonly suffix: string
  readonly key: K
  readonly default: UpstreamConfig[K]
  readonly parse: (raw: string) => UpstreamConfig[K] | undefined
  readonly must: string
}

const ms = (raw: string) => parseDuration(raw, 'ms')
const FIELD_NAME_RE = /^[!#$%&'*+.^_`|~0-9a-z-]{1,64}$/
/** A comma-separated list of field names, lower-cased; "" is an empty list. */
const fieldNames = (raw: string): string[] | undefined => {
  const names = raw
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean)
  return names.every((n) => FIELD_NAME_RE.test(n)) ? names : undefined
}
const option = <K extends OptionKey>(o: Option<K>): Option => o as unknown as Option
const OPTIONS: readonly Option[] = [
  option({
    suffix: 'CONNECTIONS',
    key: 'connections',
    default: 64,
    parse: (r) => (/^\d+$/.test(r) && +r >= 1 && +r <= 4096 ? +r : undefined),
    must: 'must be an integer between 1 and 4096',
  }),
  option({
    suffix: 'CONNECT_TIMEOUT_MS',
    key: 'connectTimeoutMs',
    default: 2000,
    parse: ms,
    must: 'must be a duration such as 500, 2s',
  }),
  option({
    suffix: 'HEADERS_TIMEOUT_MS',
    key: 'headersTimeoutMs',
    default: 10_000,
    parse: ms,
    must: 'must be a duration such as 500, 10s',
  }),
  option({
    suffix: 'BODY_TIMEOUT_MS',
    key: 'bodyTimeoutMs',
    default: 30_000,
    parse: ms,
    must: 'must be a duration such as 500, 30s',
  }),
  option({
    suffix: 'DEFAULT_TTL',
    key: 'defaultTtlMs',
    default: 0,
    parse: (r) => parseDuration(r, 's'),
    must: 'must be a duration such as 60 (s), 5m; 0 turns it off',
  }),
  option({
    suffix: 'MAX_OBJECT_BYTES',
    key: 'maxObjectBytes',
    default: 8 * 1024 ** 2,
    parse: parseSize,
    must: 'must be a size such as 1048576, 8MiB',
  }),
  option({
    suffix: 'MAX_REQUEST_BYTES',
    key: 'maxRequestBytes',
    default: 8 * 1024 ** 2,
    parse: parseSize,
    must: 'must be a size such as 1048576, 8MiB',
  }),
  option({
    suffix: 'STALE_RETENTION',
    key: 'staleRetentionMs',
    default: 3_600_000,
    parse: (r) => parseDuration(r, 's'),
    must: 'must be a duration such as 600 (s), 1h',
  }),
  option({
    suffix: 'UNKEYED_FIELDS',
    key: 'unkeyedFields',
    default: [],
    parse: fieldNames,
    must: 'must be a comma-separated list of header field names',
  }),
  option({
    suffix: 'CREDENTIAL_FIELDS',
    key: 'credentialFields',
    default: [],
    parse: fieldNames,
    must: 'must be a comma-separated list of header field names',
  }),
  option({
    suffix: 'STALE_IF_UNREACHABLE',
    key: 'staleIfUnreachableMs',
    default: -1,
    parse: (r) => parseDuration(r, 's'),
    must: 'must be a duration such as 600 (s), 1h; 0 turns it off',
  }),
  option({
    suffix: 'STORE_5XX',
    key: 'store5xx',
    default: true,
    parse: (r) => (r === 'true' || r === '1' ? true : r === 'false' || r === '0' ? false : undefined),
    must: 'must be true or false',
  }),
]

export const UPSTREAM_OPTION_SUFFIXES: readonly string[] = OPTIONS.map((o) => o.suffix)

/** The variable prefix for one upstream's settings: "api-v2" → CACHECAR_UPSTREAM_API_V2_. */
export function upstreamPrefix(name: string): string {
  return `CACHECAR_UPSTREAM_${name.toUpperCase().replaceAll('-', '_')}_`
}

export function parseUpstreams(env: Record<string, string | undefined>, problems: string[]): UpstreamConfig[] {
  const raw = env.CACHECAR_UPSTREAMS?.trim()
  if (!raw) return []
  const upstreams: UpstreamConfig[] = []
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=')
    const name = eq === -1 ? '' : item.slice(0, eq).trim()
    const target = eq === -1 ? '' : item.slice(eq + 1).trim()
    if (!NAME_RE.test(name)) {
      problems.push(
        `CACHECAR_UPSTREAMS entries must be name=url with a name of 1-32 characters a-z 0-9 -, got ${JSON.stringify(item)}`,
      )
      continue
    }
    if (upstreams.some((u) => u.name === name)) {
      problems.push(`CACHECAR_UPSTREAMS names the upstream "${name}" twice`)
      continue
    }
    const base = parseBase(target)
    if (typeof base === 'string') {
      problems.push(`CACHECAR_UPSTREAMS: upstream "${name}" ${base}, got ${JSON.stringify(maskedUrl(target))}`)
      continue
    }
    const upstream: Record<string, unknown> = { name, ...base }
    for (const option of OPTIONS) {
      const variable = upstreamPrefix(name) + option.suffix
      const value = env[variable]
      const parsed = value === undefined ? option.default : option.parse(value)
      if (parsed === undefined) problems.push(`${variable} ${option.must}, got ${JSON.stringify(value)}`)
      upstream[option.key] = parsed
    }
    upstreams.push(Object.freeze(upstream as unknown as UpstreamConfig))
  }
  return upstreams
}

/** An http(s) URL with no credentials, query or fragment; its path becomes the base path. */
function parseBase(target: string): { origin: string; basePath: string } | string {
  let url: URL
  try {
    url = new URL(target)
  } catch {
    return 'must be an absolute http:// or https:// URL'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL'
  if (url.username || url.password) return 'must not carry credentials (they would end up in logs)'
  if (url.search || url.hash || target.includes('?') || target.includes('#')) return 'must not have a query or fragment'
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') }
}
