// Helpers shared by store implementations: prefix ranges and content-derived ETags.
import { hash } from 'node:crypto'

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

/** Strong ETag from the value's bytes, so rewriting identical bytes keeps the tag (RFC 9110 §8.8.3). */
export function etagOf(value: Uint8Array): string {
  return `"${hash('sha1', value, 'base64url')}"`
}
