// The /u/<name>/… route: looks up the cache, then serves, revalidates or goes upstream; unsafe methods invalidate.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Hono, type Context } from 'hono'
import { rawPathSegments } from '../http/path.ts'
import { Problem } from '../http/problem.ts'
import { Exchange, type ProxyServices } from './exchange.ts'
import { UpstreamFailure } from './forward.ts'
import { fetchMiss, refreshInBackground, revalidate } from './fill.ts'
import { getter } from './headers.ts'
import { reuse } from './policy.ts'
import { serveStored } from './serve.ts'
import type { Upstream } from './upstream.ts'

export interface ProxyDeps extends ProxyServices {
  readonly upstreams: ReadonlyMap<string, Upstream>
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/**
 * Request fields that ask an upstream for another host, URL, scheme or method without being part of the cache key.
 * A request carrying one goes through uncached both ways: its answer may be shaped by the field (cache poisoning),
 * and a stored answer may not be what it asks for.
 */
const UNKEYED_OVERRIDES = [
  'x-forwarded-host', 'x-forwarded-server', 'x-forwarded-scheme', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded',
  'x-host', 'x-original-host', 'x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override',
]

export function proxyRoutes(deps: ProxyDeps): Hono {
  const app = new Hono()
  const handler = async function proxy(c: Context): Promise<Response> {
    const ex = exchangeFor(c, deps)
    if (ex.method !== 'GET' && ex.method !== 'HEAD') return passThrough(ex, 'method')
    // Range requests go straight through: partial responses are never stored.
    if (ex.request('range') !== null) return passThrough(ex, 'bypass')
    if (UNKEYED_OVERRIDES.some((name) => ex.request(name) !== null)) return passThrough(ex, 'bypass', 'unkeyed-header')
    const lookup = await deps.cache.lookup(ex.upstream.config.name, ex.key, ex.request)
    ex.hadVariants = lookup.kind === 'vary-miss' || (lookup.kind === 'hit' && lookup.response.facts.vary.length > 0)
    if (lookup.kind === 'hit') {
      const stored = lookup.response
      const decision = reuse(stored.facts, ex.directives, deps.now())
      if (decision === 'fresh' || decision === 'stale-allowed') {
        ex.event(decision === 'fresh' ? 'hit' : 'stale')
        return serveStored(stored, ex.request, ex.method, deps.now(), { hit: true, ...(decision !== 'fresh' && { fwd: 'stale', detail: 'max-stale' }) })
      }
      if (decision === 'stale-while-revalidate') {
        refreshInBackground(ex, stored)
        ex.event('stale')
        return serveStored(stored, ex.request, ex.method, deps.now(), { hit: true, fwd: 'stale', detail: 'stale-while-revalidate' })
      }
      if (ex.directives.has('only-if-cached')) throw notCached(ex)
      // Cache-Status says whether the request's own directives forced the trip (fwd=request) or staleness did.
      const forcedByRequest = reuse(stored.facts, new Map(), deps.now()) !== 'revalidate'
      return revalidate(ex, stored, forcedByRequest ? 'request' : 'stale')
    }
    // RFC 9111 §5.2.1.7: only-if-cached and nothing usable stored → 504.
    if (ex.directives.has('only-if-cached')) throw notCached(ex)
    if (ex.method === 'HEAD') return passThrough(ex, lookup.kind)
    return fetchMiss(ex, lookup.kind)
  }
  app.all('/u/:name', handler)
  app.all('/u/:name/*', handler)
  return app
}

function exchangeFor(c: Context, deps: ProxyDeps): Exchange {
  const rawName = rawPathSegments(c.req.url)[2] ?? ''
  const upstream = deps.upstreams.get(rawName)
  if (!upstream) {
    throw new Problem({ kind: 'unknown-upstream', status: 404, title: 'Unknown upstream', detail: `no upstream is configured under the name ${JSON.stringify(rawName)}` })
  }
  const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined
  if (!env?.incoming) throw new Error('the proxy needs @hono/node-server bindings')
  // The raw path and query after /u/<name>, exactly as received: the request never chooses the host.
  const url = c.req.url
  const rest = url.slice(url.indexOf('/', url.indexOf('//') + 2) + 3 + rawName.length)
  const key = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest
  return new Exchange(upstream, c.req.method, key, env.incoming, env.outgoing, deps)
}

function notCached(ex: Exchange): Problem {
  return new Problem({ kind: 'not-cached', status: 504, title: 'Not cached', detail: `only-if-cached, and nothing usable is stored for ${ex.key}` })
}

/** Sends any request through uncached; a successful unsafe method invalidates what it may have changed (§4.4). */
async function passThrough(ex: Exchange, fwd: 'method' | 'bypass' | 'uri-miss' | 'vary-miss', detail?: string): Promise<Response> {
  ex.event('bypass')
  let forwarded
  try {
    forwarded = await ex.send(ex.method, ex.upstreamHeaders({ conditionals: 'keep' }), ex.method !== 'GET' && ex.method !== 'HEAD')
  } catch (error) {
    throw error instanceof UpstreamFailure ? error.toProblem(ex.upstream.config.name) : error
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
