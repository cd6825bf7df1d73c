// The request path's raw (still percent-encoded) segments, so routes decode each one exactly once.

// The request targets @hono/node-server takes as they are (url.ts in that package); others it normalises with the
// URL parser. Routes answered outside Hono take only these, or do the same normalisation, so a target means the same
// path whichever side answers it.
const PLAIN_TARGET = /^\/[!#$&-;=?-[\]_a-z~]*$/
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/

/** An origin-form target Hono's adapter uses as it is: no dot segments, no character the URL parser would change. */
export function isPlainTarget(url: string): boolean {
  return PLAIN_TARGET.test(url) && !DOT_SEGMENT.test(url)
}

/** The raw segments of an absolute URL's path (Hono's c.req.url). */
export function rawPathSegments(url: string): string[] {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  let end = url.indexOf('?', start)
  if (end === -1) end = url.length
  const hash = url.indexOf('#', start)
  if (hash !== -1 && hash < end) end = hash
  return url.slice(start, end).split('/')
}

/** The raw segments of an origin-form request target's path (Node's req.url). */
export function targetPathSegments(target: string): string[] {
  const end = target.search(/[?#]/)
  return (end === -1 ? target : target.slice(0, end)).split('/')
}
