// The table of CACHECAR_* settings: one row per variable, its parser, default and help text.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface Config {
  readonly port: number
  readonly host: string
  /** Bind a non-loopback host without a token all the same. */
  readonly allowOpenBind: boolean
  readonly dbPath: string
  readonly maxBytes: number
  readonly maxValueBytes: number
  readonly memoryBytes: number
  readonly maxKeyBytes: number
  readonly defaultTtlMs: number
  readonly maxTtlMs: number
  readonly sweepIntervalMs: number
  readonly token: string | undefined
  readonly maxHeaderBytes: number
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly maxConnections: number
  readonly sendTimeoutMs: number
  readonly bodyMemoryBytes: number
  readonly fillMemoryBytes: number
  readonly maxBulkItems: number
  readonly maxBulkBytes: number
  readonly maxJsonDepth: number
  readonly logLevel: LogLevel
  readonly shutdownGraceMs: number
  readonly sessionIdleTtlMs: number
  readonly sessionAbsoluteTtlMs: number
  readonly sessionMaxBytes: number
  readonly sessionTouchFraction: number
  readonly sharedUrl: string | undefined
  readonly sharedPrefix: string
  readonly sharedTimeoutMs: number
  readonly sharedMaxValueBytes: number
  readonly sharedCoalesceMs: number
}

/** A parser returns the value, or the accepted form as a string starting with "must". */
type Parse<T> = (raw: string) => { ok: T } | { must: string }

export interface Setting<K extends keyof Config = keyof Config> {
  readonly name: string
  readonly key: K
  readonly default: string | undefined
  readonly help: string
  readonly parse: Parse<Config[K]>
  /** How a rejected value is quoted back: secrets are masked, never echoed. */
  readonly quote?: (raw: string) => string
}

function size(min: number, max = Number.MAX_SAFE_INTEGER): Parse<number> {
  const must = `must be a size in bytes between ${formatSize(min)} and ${formatSize(max)} (e.g. 1048576, 64KiB, 64MiB, 1GiB)`
  return (raw) => {
    const bytes = parseSize(raw)
    return bytes !== undefined && bytes >= min && bytes <= max ? { ok: bytes } : { must }
  }
}

function duration(bareUnit: 'ms' | 's', min: number, max: number): Parse<number> {
  const must =
    `must be a duration between ${formatDuration(min)} and ${formatDuration(max)} ` +
    `(e.g. ${bareUnit === 'ms' ? '500 (ms), ' : '60 (s), '}250ms, 30s, 5m, 1h)`
  return (raw) => {
    const ms = parseDuration(raw, bareUnit)
    return ms !== undefined && ms >= min && ms <= max ? { ok: ms } : { must }
  }
}

function integer(min: number, max: number): Parse<number> {
  const must = `must be an integer between ${min} and ${max}`
  return (raw) => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN
    return Number.isSafeInteger(n) && n >= min && n <= max ? { ok: n } : { must }
  }
}

function fraction(min: number, max: number): Parse<number> {
  const must = `must be a number between ${min} and ${max}`
  return (raw) => {
    const n = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN
    return n >= min && n <= max ? { ok: n } : { must }
  }
}

const flag: Parse<boolean> = (raw) =>
  raw === 'true' || raw === '1'
    ? { ok: true }
    : raw === 'false' || raw === '0'
      ? { ok: false }
      : { must: 'must be true or false' }

const text: Parse<string> = (raw) => (raw.length > 0 ? { ok: raw } : { must: 'must not be empty' })

const token: Parse<string | undefined> = (raw) =>
  raw.length >= 16 && /^[\x21-\x7e]+$/.test(raw)
    ? { ok: raw }
    : { must: 'must be at least 16 printable ASCII characters without spaces (or unset to disable auth)' }

const logLevel: Parse<LogLevel> = (raw) =>
  (LOG_LEVELS as readonly string[]).includes(raw)
    ? { ok: raw as LogLevel }
    : { must: `must be one of ${LOG_LEVELS.join(', ')}` }

/** A Valkey/Redis URL; the error repeats it with any password masked, never in the clear. */
const sharedUrl: Parse<string | undefined> = (raw) => {
  const must =
    'must be a redis:// or rediss:// URL with a host (e.g. rediss://user:password@my-cache.xxxx.cache.amazonaws.com:6379)'
  try {
    const url = new URL(raw)
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' ? { ok: raw } : { must }
  } catch {
    return { must }
  }
}

const keyPrefix: Parse<string> = (raw) =>
  /^[\x21-\x7e]{1,64}$/.test(raw)
    ? { ok: raw }
    : { must: 'must be 1-64 printable ASCII characters without spaces (e.g. myservice:)' }

function setting<K extends keyof Config>(
  name: string,
  key: K,
  defaultValue: string | undefined,
  parse: Parse<Config[K]>,
  help: string,
  quote?: (raw: string) => string,
): Setting<K> {
  return { name: `CACHECAR_${name}`, key, default: defaultValue, parse, help, ...(quote && { quote }) }
}

const hidden = (raw: string) => `a value of ${raw.length} characters (not shown)`

/** Query parameters that carry secrets in connection URLs (redis://host?password=…, ?auth_token=…). */
const SECRET_PARAM = /pass|pwd|secret|token|auth|key|credential|signature/i

/** The URL with its password and secret-looking query parameters replaced, for logs, errors and /readyz. */
export function maskedUrl(raw: string): string {
  try {
    const url = new URL(raw)
    if (url.password) url.password = '***'
    for (const name of [...url.searchParams.keys()]) if (SECRET_PARAM.test(name)) url.searchParams.set(name, '***')
    return url.toString().replaceAll('%2A%2A%2A', '***')
  } catch {
    return hidden(raw)
  }
}

const DAY = 86_400_000

export const SETTINGS: readonly Setting[] = [
  setting('PORT', 'port', '8787', integer(0, 65535), 'TCP port to listen on (0 picks a free one)'),
  setting('HOST', 'host', '127.0.0.1', text, "Address to bind. Keep loopback: the app shares the task's localhost"),
  setting(
    'ALLOW_OPEN_BIND',
    'allowOpenBind',
    'false',
    flag,
    'true: start on a non-loopback CACHECAR_HOST without CACHECAR_TOKEN (refused otherwise)',
  ),
  setting(
    'DB_PATH',
    'dbPath',
    join(tmpdir(), 'cachecar', 'cachecar.db'),
    text,
    'SQLite file (wiped at every start) or :memory:',
  ),
  setting(
    'MAX_BYTES',
    'maxBytes',
    '1GiB',
    size(1024 ** 2),
    'Budget for the database + WAL + shm files; LRU eviction keeps below it',
  ),
  setting('MAX_VALUE_BYTES', 'maxValueBytes', '8MiB', size(1, 1024 ** 3), 'Largest single value (413 above)'),
  setting(
    'MEMORY_BYTES',
    'memoryBytes',
    '16MiB',
    size(0, 1024 ** 4),
    'In-memory tier for recently read values (0 turns it off)',
  ),
  setting('MAX_KEY_BYTES', 'maxKeyBytes', '512', integer(1, 4096), 'Longest key, in UTF-8 bytes'),
  setting(
    'DEFAULT_TTL',
    'defaultTtlMs',
    '1h',
    duration('s', 1000, 365 * DAY),
    'TTL when a write names none (bare numbers are seconds)',
  ),
  setting(
    'MAX_TTL',
    'maxTtlMs',
    '7d',
    duration('s', 1000, 365 * DAY),
    'Longest TTL a write may ask for (bare numbers are seconds)',
  ),
  setting(
    'SWEEP_INTERVAL_MS',
    'sweepIntervalMs',
    '10s',
    duration('ms', 10, DAY),
    'How often the sweeper deletes expired rows',
  ),
  setting('TOKEN', 'token', undefined, token, 'When set, /v1 routes require Authorization: Bearer <token>', hidden),
  setting(
    'MAX_HEADER_BYTES',
    'maxHeaderBytes',
    '16KiB',
    size(1024, 1024 ** 2),
    'Largest request header block (431 above)',
  ),
  setting(
    'HEADERS_TIMEOUT_MS',
    'headersTimeoutMs',
    '10s',
    duration('ms', 100, DAY),
    'Time a client has to send its request headers',
  ),
  setting(
    'REQUEST_TIMEOUT_MS',
    'requestTimeoutMs',
    '60s',
    duration('ms', 100, DAY),
    'Time a client has to send a whole request',
  ),
  setting(
    'KEEP_ALIVE_TIMEOUT_MS',
    'keepAliveTimeoutMs',
    '65s',
    duration('ms', 100, DAY),
    'How long an idle keep-alive connection stays open',
  ),
  setting(
    'MAX_CONNECTIONS',
    'maxConnections',
    '1024',
    integer(1, 1_000_000),
    'Most client connections open at once; further ones are closed on arrival (cachecar_connections_dropped_total)',
  ),
  setting(
    'SEND_TIMEOUT_MS',
    'sendTimeoutMs',
    '30s',
    duration('ms', 100, DAY),
    'A response whose client reads nothing for this long is cut',
  ),
  setting(
    'BODY_MEMORY_BYTES',
    'bodyMemoryBytes',
    '32MiB',
    size(1024 ** 2, 1024 ** 4),
    'Request bodies over 64 KiB held in memory at once, all clients together; a body without room waits, unread',
  ),
  setting(
    'FILL_MEMORY_BYTES',
    'fillMemoryBytes',
    '64MiB',
    size(1024 ** 2, 1024 ** 4),
    'Upstream response bodies over 64 KiB held in memory at once while collected for the cache, all fills together',
  ),
  setting('MAX_BULK_ITEMS', 'maxBulkItems', '1000', integer(1, 100_000), 'Most keys in one bulk request'),
  setting('MAX_BULK_BYTES', 'maxBulkBytes', '16MiB', size(1024, 1024 ** 3), 'Largest bulk request body'),
  setting(
    'MAX_JSON_DEPTH',
    'maxJsonDepth',
    '64',
    integer(1, 1024),
    'Deepest nesting of arrays and objects in a JSON request body',
  ),
  setting('LOG_LEVEL', 'logLevel', 'info', logLevel, 'Structured JSON log level on stdout'),
  setting(
    'SESSION_IDLE_TTL',
    'sessionIdleTtlMs',
    '30m',
    duration('s', 1000, DAY),
    'A session ends after this long without use (sliding; bare numbers are seconds)',
  ),
  setting(
    'SESSION_ABSOLUTE_TTL',
    'sessionAbsoluteTtlMs',
    '12h',
    duration('s', 1000, 30 * DAY),
    'A session ends this long after creation, however active',
  ),
  setting(
    'SESSION_MAX_BYTES',
    'sessionMaxBytes',
    '64KiB',
    size(2, 1024 ** 2),
    'Largest session data, as JSON (413 above)',
  ),
  setting(
    'SESSION_TOUCH_FRACTION',
    'sessionTouchFraction',
    '0.1',
    fraction(0, 1),
    'A read extends the idle expiry only once this share of the idle TTL has passed since the last write (0 = every read)',
  ),
  setting(
    'SHARED_URL',
    'sharedUrl',
    undefined,
    sharedUrl,
    "Valkey/Redis shared tier (redis:// or rediss:// for TLS; AUTH as user:password@). Unset: this task's SQLite only",
    (raw) => JSON.stringify(maskedUrl(raw)),
  ),
  setting(
    'SHARED_PREFIX',
    'sharedPrefix',
    'cachecar:',
    keyPrefix,
    'Prefix of every shared-tier key and channel: one per service',
  ),
  setting(
    'SHARED_TIMEOUT_MS',
    'sharedTimeoutMs',
    '250ms',
    duration('ms', 5, 60_000),
    'Deadline per shared-tier command; slower counts as down',
  ),
  setting(
    'SHARED_COALESCE_MS',
    'sharedCoalesceMs',
    '0',
    duration('ms', 0, 60_000),
    'Cross-task coalescing: a cold URL is fetched by one task while the others wait up to this long for it (0 = off)',
  ),
  setting(
    'SHARED_MAX_VALUE_BYTES',
    'sharedMaxValueBytes',
    '512KiB',
    size(1, 512 * 1024 ** 2),
    "Larger values stay in this task's SQLite only",
  ),
  setting(
    'SHUTDOWN_GRACE_MS',
    'shutdownGraceMs',
    '10s',
    duration('ms', 0, 10 * 60_000),
    'Time in-flight requests get after SIGTERM (keep below ECS stopTimeout, 30 s by default)',
  ),
]
