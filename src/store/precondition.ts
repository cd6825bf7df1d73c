// Rules a write checks against the current entry: If-Match / If-None-Match: * (RFC 9110 §13.1), counter arithmetic.
import { etagOf } from './keys.ts'
import type { Precondition } from './types.ts'

/** True when the write may proceed. `currentEtag` is undefined when no live entry exists. */
export function preconditionHolds(precondition: Precondition | undefined, currentEtag: string | undefined): boolean {
  if (!precondition) return true
  if (precondition.ifNoneMatchAny && currentEtag !== undefined) return false
  if (precondition.ifMatch) {
    if (currentEtag === undefined) return false
    // If-Match uses the strong comparison: a weak tag never matches.
    return precondition.ifMatch.some((tag) => tag === '*' || (tag === currentEtag && !tag.startsWith('W/')))
  }
  return true
}

/** The next value of a counter stored as decimal bytes, or why there is none. */
export function addToCounter(
  value: Uint8Array,
  by: number,
):
  | { readonly status: 'ok'; readonly next: number; readonly bytes: Buffer; readonly etag: string }
  | { readonly status: 'not-a-counter' | 'overflow' } {
  const previous = parseCounter(value)
  if (previous === undefined) return { status: 'not-a-counter' }
  const next = previous + by
  if (!Number.isSafeInteger(next)) return { status: 'overflow' }
  const bytes = Buffer.from(String(next))
  return { status: 'ok', next, bytes, etag: etagOf(bytes) }
}

/** Parses a decimal counter value; undefined when the bytes are not one. */
export function parseCounter(value: Uint8Array): number | undefined {
  if (value.length === 0 || value.length > 20) return undefined
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1')
  if (!/^-?\d+$/.test(text)) return undefined
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : undefined
}
