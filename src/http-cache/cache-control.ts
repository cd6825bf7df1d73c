// Parses Cache-Control and the targeted fields of RFC 9213 into directive maps; pure, no I/O.

/** Directive name (lower case) → argument, or true when it has none. */
export type Directives = ReadonlyMap<string, string | true>

/** Marks a directive given twice with different arguments: RFC 9111 §4.2.1 lets a cache treat it as stale. */
export const CONFLICT = '\u0000conflict'

/** Splits on commas outside quoted strings; unquotes arguments. */
export function parseCacheControl(value: string | null | undefined): Map<string, string | true> {
  const directives = new Map<string, string | true>()
  if (!value) return directives
  for (const part of splitOutsideQuotes(value)) {
    const eq = part.indexOf('=')
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase()
    if (!name) continue
    let arg: string | true = true
    if (eq !== -1) {
      const raw = part.slice(eq + 1).trim()
      arg = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw
    }
    const previous = directives.get(name)
    directives.set(name, previous !== undefined && previous !== arg ? CONFLICT : arg)
  }
  return directives
}

function splitOutsideQuotes(value: string): string[] {
  const parts: string[] = []
  let quoted = false
  let start = 0
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]
    if (ch === '"' && value[i - 1] !== '\\') quoted = !quoted
    else if (ch === ',' && !quoted) {
      parts.push(value.slice(start, i))
      start = i + 1
    }
  }
  parts.push(value.slice(start))
  return parts
}

const SF_KEY = /^[a-z*][a-z0-9_\-.*]*$/

/**
 * RFC 9213 §2.2: the first targeted field with a valid, non-empty value decides the policy, and Cache-Control and
 * Expires are then ignored. Targeted fields are structured-field dictionaries; an invalid one is skipped.
 */
export function targetedDirectives(
  get: (name: string) => string | null | undefined,
  fields: readonly string[],
): Directives | undefined {
  for (const field of fields) {
    const value = get(field)
    if (!value?.trim()) continue
    const rawKeys = splitOutsideQuotes(value).map((part) => part.split('=')[0]!.trim())
    if (rawKeys.every((key) => SF_KEY.test(key))) return parseCacheControl(value)
  }
  return undefined
}

/** RFC 9111 §1.2.2: delta-seconds; larger values are capped at 2^31; anything else is invalid (undefined). */
export function deltaSeconds(arg: string | true | undefined): number | undefined {
  if (typeof arg !== 'string' || !/^\d+$/.test(arg)) return undefined
  return Math.min(Number(arg), 2 ** 31)
}
