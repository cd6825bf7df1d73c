// Shapes stored entries into HTTP responses and JSON for the key/value API.
import type { EntryInfo } from '../store/types.ts'

/** Instants formatted lately: a session read formats its two expiries, and toISOString cost more than the read. */
const formatted = new Map<number, string>()
const MAX_FORMATTED = 1024

export function iso(epochMs: number): string {
  let text = formatted.get(epochMs)
  if (text === undefined) {
    text = new Date(epochMs).toISOString()
    if (formatted.size >= MAX_FORMATTED) formatted.clear()
    formatted.set(epochMs, text)
  }
  return text
}

/** Freshness headers for a stored entry: remaining lifetime and age, in whole seconds. */
export function freshnessHeaders(
  entry: Pick<EntryInfo, 'etag' | 'writtenAt' | 'expiresAt'>,
  now: number,
): Record<string, string> {
  return {
    etag: entry.etag,
    'cache-control': `max-age=${Math.max(0, Math.floor((entry.expiresAt - now) / 1000))}`,
    age: String(Math.max(0, Math.floor((now - entry.writtenAt) / 1000))),
  }
}

export function infoJson(entry: EntryInfo): Record<string, unknown> {
  return {
    key: entry.key,
    size: entry.size,
    contentType: entry.contentType,
    etag: entry.etag,
    tags: entry.tags,
    // The API's name since its first release, kept: it means when the value was last written.
    createdAt: iso(entry.writtenAt),
    expiresAt: iso(entry.expiresAt),
  }
}
