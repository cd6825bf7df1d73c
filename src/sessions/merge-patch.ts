// JSON Merge Patch (RFC 7396 §2), as a pure function.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export function isJsonObject(value: unknown): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Applies `patch` to `target`: objects merge recursively, null removes a member, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isJsonObject(patch)) return patch
  const result: { [key: string]: Json } = isJsonObject(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else result[key] = mergePatch(result[key] ?? null, value)
  }
  return result
}
