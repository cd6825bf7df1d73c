// Requests the cache does not answer go through to the upstream as they came; a successful unsafe method then
// invalidates what it may have changed (RFC 9111 §4.4).
import type { SENT } from '../../http/reply.ts'
import type { Exchange } from './exchange.ts'
import { UpstreamFailure, type Forwarded } from './forward.ts'
import { getter } from '../headers.ts'
import type { Upstream } from './upstream.ts'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** Sends any request through uncached; a successful unsafe method invalidates what it may have changed (§4.4). */
export async function passThrough(
  ex: Exchange,
  fwd: 'method' | 'bypass' | 'uri-miss' | 'vary-miss',
  detail?: string,
): Promise<typeof SENT> {
  ex.event('bypass')
  let forwarded: Forwarded
  try {
    forwarded = await ex.send(
      ex.method,
      ex.upstreamHeaders({ conditionals: 'keep' }),
      ex.method !== 'GET' && ex.method !== 'HEAD',
    )
  } catch (error) {
    throw error instanceof UpstreamFailure ? error.toProblem(ex.upstream.config.name, fwd) : error
  }
  if (!SAFE.has(ex.method) && forwarded.status < 400) await invalidateAfterWrite(ex, getter(forwarded.headers))
  return ex.streamed(forwarded, { fwd, fwdStatus: forwarded.status, ...(detail && { detail }) })
}

async function invalidateAfterWrite(ex: Exchange, response: (name: string) => string | null): Promise<void> {
  const { cache } = ex.services
  const name = ex.upstream.config.name
  await cache.invalidate(name, ex.key)
  for (const field of ['location', 'content-location']) {
    const target = sameUpstreamKey(ex.upstream, ex.key, response(field))
    if (target !== undefined) await cache.invalidate(name, target)
  }
}

/** The cache key of a Location-style URI if it points into the same upstream (§4.4: same origin only). */
function sameUpstreamKey(upstream: Upstream, requestKey: string, value: string | null): string | undefined {
  if (!value) return undefined
  let url: URL
  try {
    // Resolving here only compares origins; it never decides where a request goes.
    url = new URL(value, upstream.config.origin + upstream.pathFor(requestKey))
  } catch {
    return undefined
  }
  const base = upstream.config.basePath
  if (url.origin !== upstream.config.origin || !url.pathname.startsWith(base)) return undefined
  return url.pathname.slice(base.length) + url.search
}
