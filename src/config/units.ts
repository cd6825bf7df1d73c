// Parses human-friendly sizes ("64MiB") and durations ("30s"); returns undefined on anything else.

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i

/** Bytes for "1048576", "64MiB", "1.5GB"; undefined if not a whole, non-negative number of bytes. */
export function parseSize(text: string): number | undefined {
  const match = SIZE_RE.exec(text.trim())
  if (!match) return undefined
  const unit = SIZE_UNITS[match[2]!.toLowerCase()]
  if (unit === undefined) return undefined
  const bytes = Number(match[1]) * unit
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/**
 * Milliseconds for "250ms", "30s", "5m", "1h", "2d". A bare number is read in `bareUnit`
 * (so CACHECAR_SWEEP_INTERVAL_MS=5000 is 5 s and CACHECAR_DEFAULT_TTL=60 is 60 s).
 */
export function parseDuration(text: string, bareUnit: 'ms' | 's'): number | undefined {
  const match = DURATION_RE.exec(text.trim())
  if (!match) return undefined
  const unitName = match[2]!.toLowerCase() || bareUnit
  const unit = DURATION_UNITS[unitName]
  if (unit === undefined) return undefined
  const ms = Number(match[1]) * unit
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** "1GiB"-style rendering for help text and logs. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  return `${bytes}B`
}

/** "30s"-style rendering for help text and logs. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
