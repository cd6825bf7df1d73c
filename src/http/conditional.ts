// Parses If-Match / If-None-Match entity-tag lists (RFC 9110 §13.1).

/** The tags in a list header; ['*'] for a star; undefined when absent. Malformed members are dropped. */
export function parseEtagList(header: string | undefined): string[] | undefined {
  if (header === undefined) return undefined
  if (header.trim() === '*') return ['*']
  return header.match(/(?:W\/)?"[^"]*"/g) ?? []
}

/** Weak comparison, used by If-None-Match (RFC 9110 §8.8.3.2). */
export function noneMatchHits(list: readonly string[] | undefined, etag: string): boolean {
  if (!list) return false
  const opaque = etag.replace(/^W\//, '')
  return list.some((tag) => tag === '*' || tag.replace(/^W\//, '') === opaque)
}
