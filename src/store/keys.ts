// Helpers shared by store implementations: prefix ranges, slot hashes and content-derived ETags.
import { createHash, hash } from 'node:crypto'
import { heavyWork } from '../heavy-work.ts'
import type { Entry, EntryInfo, SetInput } from './types.ts'

/**
 * The smallest string greater than every string that starts with `prefix`, or undefined when there is
 * none (empty prefix). UTF-8 byte order equals code-point order, so this works for SQLite's BINARY
 * collation and lets prefix scans use the (namespace, key) index instead of scanning to the end.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix)
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!
    if (last < 0x10ffff) {
      // Skip the surrogate block: a lone surrogate would be encoded as U+FFFD.
      const next = last === 0xd7ff ? 0xe000 : last + 1
      return points.join('') + String.fromCodePoint(next)
    }
  }
  return undefined
}

/** 32-bit FNV-1a over the UTF-16 code units of `text`, continuing from `hash`: cheap slot hashes for in-memory tables. */
export function fnv1a(text: string, hash = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

/** The entry a write of `input` at `now` creates (tags without repeats), for stores that keep entries as objects. */
export function entryWritten(input: SetInput, now: number): Entry {
  return {
    namespace: input.namespace,
    key: input.key,
    value: input.value,
    contentType: input.contentType,
    etag: etagOf(input.value),
    tags: [...new Set(input.tags ?? [])],
    writtenAt: now,
    expiresAt: now + input.ttlMs,
    size: input.value.byteLength,
  }
}

/** Strong ETag from the value's bytes, so rewriting identical bytes keeps the tag (RFC 9110 §8.8.3). */
export function etagOf(value: Uint8Array): string {
  return `"${hash('sha1', value, 'base64url')}"`
}

/** Bytes hashed per turn of the event loop by etagInSlices: about 40 µs of SHA-1 here. */
const HASH_SLICE_BYTES = 64 * 1024

/**
 * etagOf(value) for large values, hashed a slice per turn of the event loop (heavy work: it waits while the loop is
 * busy) so other requests run in between.
 * crypto.subtle.digest is no way out: on Node 24 it held the calling thread 3.6-4.9 ms per MiB (measured), six
 * times longer than hashing synchronously.
 */
export async function etagInSlices(value: Uint8Array): Promise<string> {
  const sha1 = createHash('sha1')
  for (let offset = 0; offset < value.byteLength; offset += HASH_SLICE_BYTES) {
    if (offset > 0) await heavyWork.turn()
    sha1.update(value.subarray(offset, offset + HASH_SLICE_BYTES))
  }
  return `"${sha1.digest('base64url')}"`
}

/** Listings merged by key (a later one wins), in key order, at most `limit` of them. */
export function mergedListing(infos: readonly EntryInfo[], limit: number): EntryInfo[] {
  const merged = new Map<string, EntryInfo>()
  for (const info of infos) merged.set(info.key, info)
  return [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : 1)).slice(0, limit)
}
