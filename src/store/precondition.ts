// Evaluates If-Match / If-None-Match: * against the current entry (RFC 9110 §13.1.1, §13.1.2).
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

/** Parses a decimal counter value; undefined when the bytes are not one. */
export function parseCounter(value: Uint8Array): number | undefined {
  if (value.length === 0 || value.length > 20) return undefined
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1')
  if (!/^-?\d+$/.test(text)) return undefined
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : undefined
}
