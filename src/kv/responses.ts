// Shapes stored entries into HTTP responses and JSON for the key/value API.
import type { EntryInfo } from '../store/types.ts'

export function iso(epochMs: number): string {
  return new Date(epochMs).toISOString()
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
