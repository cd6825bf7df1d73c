// Validates key/value API input at the edge; each failure is a 400 problem naming the field.
import { invalid } from '../http/problem.ts'

export interface KvLimits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  readonly defaultTtlMs: number
  readonly maxTtlMs: number
  readonly maxBulkItems: number
  readonly maxBulkBytes: number
  readonly maxJsonDepth: number
}

const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const TAG_RE = /^[A-Za-z0-9_.:/-]{1,128}$/
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job
const CONTROL_RE = /[\u0000-\u001f\u007f]/
const CONTENT_TYPE_RE = /^[\x20-\x7e]{1,256}$/
export const MAX_TAGS = 32

export function namespaceOf(raw: string): string {
  if (!NAMESPACE_RE.test(raw)) {
    throw invalid(
      'namespace',
      `namespace must be 1-64 characters of A-Z a-z 0-9 _ . - and start with a letter or digit, got ${JSON.stringify(raw)}`,
    )
  }
  return raw
}

/** Validates an already-decoded key. Keys starting with "_" are reserved for API verbs such as _bulk. */
export function keyOf(key: string, limits: KvLimits, field = 'key'): string {
  if (key.length === 0) throw invalid(field, 'key must not be empty')
  if (key.startsWith('_')) throw invalid(field, `keys starting with "_" are reserved, got ${JSON.stringify(key)}`)
  if (CONTROL_RE.test(key)) throw invalid(field, 'key must not contain control characters')
  if (Buffer.byteLength(key) > limits.maxKeyBytes) {
    throw invalid(field, `key must be at most ${limits.maxKeyBytes} bytes of UTF-8, got ${Buffer.byteLength(key)}`)
  }
  return key
}

/** Decodes one percent-encoded path segment; malformed encodings are a 400, never a different key. */
export function decodeSegment(raw: string, field: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw invalid(field, `${field} is not valid percent-encoded UTF-8`)
  }
}

/** TTL in whole seconds from a query or JSON value, bounded by MAX_TTL; milliseconds out. */
export function ttlOf(raw: string | number | undefined, limits: KvLimits, field = 'ttl'): number {
  if (raw === undefined) return limits.defaultTtlMs
  const text = String(raw)
  const seconds = /^\d{1,12}$/.test(text) ? Number(text) : NaN
  const max = limits.maxTtlMs / 1000
  if (!(seconds >= 1 && seconds <= max)) {
    throw invalid(field, `${field} must be a whole number of seconds between 1 and ${max}, got ${JSON.stringify(raw)}`)
  }
  return seconds * 1000
}

export function tagsOf(raw: readonly unknown[], field = 'tags'): string[] {
  if (raw.length > MAX_TAGS) throw invalid(field, `at most ${MAX_TAGS} tags, got ${raw.length}`)
  for (const tag of raw) {
    if (typeof tag !== 'string' || !TAG_RE.test(tag)) {
      throw invalid(field, `each tag must be 1-128 characters of A-Z a-z 0-9 _ . : / -, got ${JSON.stringify(tag)}`)
    }
  }
  return raw as string[]
}

/** Tags from the comma-separated Cachecar-Tags header. */
export function tagsFromHeader(header: string | undefined): string[] {
  if (header === undefined || header.trim() === '') return []
  return tagsOf(
    header.split(',').map((tag) => tag.trim()),
    'Cachecar-Tags',
  )
}

export function contentTypeOf(raw: string | undefined, field = 'content-type'): string {
  if (raw === undefined || raw === '') return 'application/octet-stream'
  if (!CONTENT_TYPE_RE.test(raw)) throw invalid(field, 'content type must be 1-256 printable ASCII characters')
  return raw
}

export function integerOf(
  raw: string | number | undefined,
  field: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback
  const n = typeof raw === 'number' ? raw : /^-?\d{1,16}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw invalid(field, `${field} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`)
  }
  return n
}
