// The /u/<name>/… route: looks up the cache, then serves, revalidates or goes upstream; unsafe methods invalidate.
// Served straight from Node, outside Hono (listener.ts): this is the hot path, and it writes to the socket itself.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Problem } from '../http/problem.ts'
import type { Answer } from './answer.ts'
import { Exchange, type ProxyServices } from './exchange.ts'
import { UpstreamFailure, type Forwarded } from './forward.ts'
import { fetchMiss, refreshInBackground, revalidate } from './fill.ts'
import { getter } from './headers.ts'
import { reuse, revalidationCause } from './policy.ts'
import { carriesAny } from './request-fields.ts'
import { serveStored } from './serve.ts'
import type { Upstream } from './upstream.ts'

export interface ProxyDeps extends ProxyServices {
  readonly upstreams: ReadonlyMap<string, Upstream>
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** A /u/<name>/… request target: the upstream's raw name and the cache key (path and query after the name). */
export interface ProxyTarget {
  readonly name: string
  readonly key: string
  /** The route pattern metrics label it with. */
  readonly route: '/u/:name' | '/u/:name/*'
}

// The request targets @hono/node-server takes as they are (url.ts in that package); others it normalises with the
// URL parser. The proxy does the same, so a target reaches the same upstream path whichever side answers it.
const PLAIN_TARGET = /^\/[!#$&-;=?-[\]_a-z~]*$/
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/

/** A ".." segment, as typed or percent-encoded (the URL parser resolves "%2e%2e" as ".." too). */
const DOT_DOT_SEGMENT = /\/(?:\.|%2e){2}(?:[/?]|$)/i

/**
 * Reads a request target: origin-form, or absolute-form whose scheme and authority are ignored (the request never
 * chooses the host). Undefined when it is not /u/<name> with a non-empty name, or not a valid target at all: Hono's
 * adapter then answers it as it answers every other request (400 for a backslash in the path, 404 off the routes).
 * A 400 Problem when dot segments climb out of the /u/<name>/ it names (they would land on another upstream).
 */
export function proxyTarget(url: string): ProxyTarget | Problem | undefined {
  // Every other route's requests pass here first, and most leave at once: normalising a target Node's parser accepts
  // (no tab, CR or LF) never turns a path without "/u/" into one with it.
  if (url.startsWith('/') && !url.includes('/u/')) return undefined
  // RFC 9110 §7.1: a fragment is the client's own business; it is neither sent upstream nor part of the key.
  const hash = url.indexOf('#')
  if (hash !== -1) url = url.slice(0, hash)
  const plain = PLAIN_TARGET.test(url) && !DOT_SEGMENT.test(url)
  const path = plain ? url : normalisedPath(url)
  if (!plain && path !== undefined && climbsOut(url, path)) return climbing(url)
  if (path === undefined || !path.startsWith('/u/')) return undefined
  const name = upstreamName(path)
  if (name === '') return undefined
  // The raw path and query after /u/<name>, exactly as received.
  const rest = path.slice(3 + name.length)
  const key = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest
  return { name, key, route: rest.startsWith('/') ? '/u/:name/*' : '/u/:name' }
}

/** The <name> of a path starting with /u/<name>: everything up to the next "/", "?" or "#". */
function upstreamName(path: string): string {
  const end = path.slice(3).search(/[/?#]/)
  return end === -1 ? path.slice(3) : path.slice(3, 3 + end)
}

/** Whether a target that names /u/<name>/ resolves (through "..", typed or encoded) to a path outside it. */
function climbsOut(url: string, resolved: string): boolean {
  const raw = url.startsWith('/') ? url : url.replace(/^https?:\/\/[^/?]*/i, '')
  const query = raw.indexOf('?')
  const rawPath = query === -1 ? raw : raw.slice(0, query)
  if (!rawPath.startsWith('/u/') || !DOT_DOT_SEGMENT.test(rawPath)) return false
  const home = `/u/${upstreamName(rawPath)}`
  return !(resolved === home || resolved.startsWith(`${home}/`) || resolved.startsWith(`${home}?`))
}

function climbing(url: string): Problem {
  return new Problem({
    kind: 'invalid-target',
    status: 400,
    title: 'Bad request target',
    detail: `dot segments in ${JSON.stringify(url.split('?')[0]!.slice(0, 200))} climb out of the upstream the target names`,
  })
}

/** Path and query of an unusual target as the URL parser resolves them (dot segments, escapes); undefined if invalid. */
function normalisedPath(url: string): string | undefined {
  const absolute = url.startsWith('http://') || url.startsWith('https://')
  if (!absolute && !url.startsWith('/')) return undefined
  const query = url.indexOf('?')
  const backslash = url.indexOf('\\')
  if (backslash !== -1 && (query === -1 || backslash < query)) return undefined
  try {
    const parsed = new URL(absolute ? url : `http://target${url}`)
    return parsed.pathname + parsed.search
  } catch {
    return undefined
  }
}

/** Answers one proxied request: looks up the cache, then serves, revalidates or goes upstream. */
export async function answerProxy(
  deps: ProxyDeps,
  target: ProxyTarget,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<Answer> {
  const upstream = deps.upstreams.get(target.name)
  if (!upstream) {
    throw new Problem({
      kind: 'unknown-upstream',
      status: 404,
      title: 'Unknown upstream',
      detail: `no upstream is configured under the name ${JSON.stringify(target.name)}`,
    })
  }
  const ex = new Exchange(upstream, incoming.method ?? 'GET', target.key, incoming, outgoing, deps)
  if (ex.method !== 'GET' && ex.method !== 'HEAD') return passThrough(ex, 'method')
  // Range requests go straight through: partial responses are never stored.
  if (ex.request('range') !== null) return passThrough(ex, 'bypass')
  // A field that shapes the answer without being keyed (request-fields.ts): uncached both ways.
  if (carriesAny(incoming.headers, upstream.unkeyedFields)) return passThrough(ex, 'bypass', 'unkeyed-header')
  const lookup = await deps.cache.lookup(upstream.config.name, ex.key, ex.request)
  ex.hadVariants = lookup.kind === 'vary-miss' || (lookup.kind === 'hit' && lookup.response.facts.vary.length > 0)
  if (lookup.kind === 'vary-miss') ex.missedKey = lookup.variantKey
  if (lookup.kind === 'hit') {
    const stored = lookup.response
    const decision = reuse(stored.facts, ex.directives, deps.now())
    if (decision === 'fresh' || decision === 'stale-allowed') {
      ex.event(decision === 'fresh' ? 'hit' : 'stale')
      return serveStored(stored, ex.request, ex.method, deps.now(), {
        hit: true,
        ...(decision !== 'fresh' && { fwd: 'stale', detail: 'max-stale' }),
      })
    }
    if (decision === 'stale-while-revalidate') {
      refreshInBackground(ex, stored)
      ex.event('stale')
      return serveStored(stored, ex.request, ex.method, deps.now(), {
        hit: true,
        fwd: 'stale',
        detail: 'stale-while-revalidate',
      })
    }
    if (ex.directives.has('only-if-cached')) throw notCached(ex)
    return revalidate(ex, stored, revalidationCause(stored.facts, deps.now()))
  }
  if (ex.method === 'GET' && !ex.directives.has('only-if-cached')) return fetchMiss(ex, lookup.kind)
  // A miss that will not be filled from here releases the coalescing lock its lookup may have taken.
  ex.abandon('not-stored')
  // RFC 9111 §5.2.1.7: only-if-cached and nothing usable stored → 504.
  if (ex.directives.has('only-if-cached')) throw notCached(ex)
  return passThrough(ex, lookup.kind)
}

function notCached(ex: Exchange): Problem {
  return new Problem({
    kind: 'not-cached',
    status: 504,
    title: 'Not cached',
    detail: `only-if-cached, and nothing usable is stored for ${ex.key}`,
  })
}

/** Sends any request through uncached; a successful unsafe method invalidates what it may have changed (§4.4). */
async function passThrough(
  ex: Exchange,
  fwd: 'method' | 'bypass' | 'uri-miss' | 'vary-miss',
  detail?: string,
): Promise<Answer> {
  ex.event('bypass')
  let forwarded: Forwarded
  try {
    forwarded = await ex.send(
      ex.method,
      ex.upstreamHeaders({ conditionals: 'keep' }),
      ex.method !== 'GET' && ex.method !== 'HEAD',
    )
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
