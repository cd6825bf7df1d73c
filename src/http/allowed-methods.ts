// Which methods a path has routes for, so a known route asked with another method is a 405 with Allow
// (RFC 9110 §15.5.6) rather than a 404 that says the route does not exist.

export interface Route {
  readonly method: string
  readonly path: string
}

/** A Hono route pattern as a regular expression: `:name` one segment, `*` anything. */
function pattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) =>
      segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/')
  return new RegExp(`^${source}/?$`)
}

/**
 * Returns the methods `path` is routed for, HEAD included wherever GET is (it answers HEAD); middleware entries
 * (method ALL) do not count. Empty when no route has this path.
 */
export function allowedMethods(routes: readonly Route[]): (path: string) => string[] {
  const compiled = routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method, test: pattern(r.path) }))
  return (path) => {
    const methods = new Set(compiled.filter((r) => r.test.test(path)).map((r) => r.method))
    if (methods.has('GET')) methods.add('HEAD')
    return [...methods].sort()
  }
}
