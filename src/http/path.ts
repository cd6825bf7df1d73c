// The request path's raw (still percent-encoded) segments, so routes decode each one exactly once.

export function rawPathSegments(url: string): string[] {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  let end = url.indexOf('?', start)
  if (end === -1) end = url.length
  const hash = url.indexOf('#', start)
  if (hash !== -1 && hash < end) end = hash
  return url.slice(start, end).split('/')
}
