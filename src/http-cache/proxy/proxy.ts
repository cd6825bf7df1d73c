// The /u/<name>/… route: lookup → decide → act. Looks the request up in the cache (unless it may never be answered
// from there), decides what to do with what was found (decide.ts, pure), then acts on it (act.ts).
// Served straight from Node, outside Hono (listener.ts): this is the hot path, and it writes to the socket itself.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Problem } from '../../http/problem.ts'
import { cacheStatus } from '../policy/cache-status.ts'
import type { Answer } from '../../http/reply.ts'
import { answer } from './act.ts'
import type { Lookup } from '../response-cache.ts'
import { type Action, type RequestFacts, afterLookup, beforeLookup } from './decide.ts'
import { Exchange, type ProxyServices } from './exchange.ts'
import { carriesAny } from './request-fields.ts'
import { isSingleRange } from './ranges.ts'
import type { ProxyTarget } from './target.ts'
import type { Upstream } from './upstream.ts'

export interface ProxyDeps extends ProxyServices {
  readonly upstreams: ReadonlyMap<string, Upstream>
}

/**
 * Answers one proxied request: at once when memory holds a stored response it may serve (no await on the hot path),
 * else through a promise.
 */
export function answerProxy(
  deps: ProxyDeps,
  target: ProxyTarget,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Answer | Promise<Answer> {
  const upstream = deps.upstreams.get(target.name)
  if (!upstream) throw unknownUpstream(target.name)
  const ex = new Exchange(upstream, incoming.method ?? 'GET', target.key, incoming, outgoing, deps)
  const request: RequestFacts = {
    method: ex.method,
    directives: ex.directives,
    range: rangeOf(ex.method, ex.request('range')),
    unkeyed: carriesAny(incoming.headers, upstream.unkeyedFields),
  }
  ex.oneRange = request.range === 'single'
  // Lookup, unless the cache may never answer this request; from memory at once when the store can.
  const early = beforeLookup(request)
  const name = upstream.config.name
  const found = early
    ? undefined
    : (deps.cache.peek(name, ex.key, ex.request) ?? deps.cache.lookup(name, ex.key, ex.request))
  // Decide, then act (act.ts), without waiting when nothing needs to be waited for.
  const decided =
    early ??
    (found instanceof Promise ? found.then((lookup) => decide(ex, request, lookup)) : decide(ex, request, found!))
  return answer(ex, decided)
}

/** Decide what to do with what the lookup found, noting what a fill will need of it. */
function decide(ex: Exchange, request: RequestFacts, lookup: Lookup): Action {
  ex.hadVariants = lookup.kind === 'vary-miss' || (lookup.kind === 'hit' && lookup.response.facts.vary.length > 0)
  if (lookup.kind !== 'hit') ex.missedKey = lookup.kind === 'vary-miss' ? lookup.variantKey : ex.key
  const action = afterLookup(request, lookup, ex.services.now())
  // A miss that will not be filled from here releases the coalescing lock its lookup may have taken.
  if (lookup.kind !== 'hit' && action.act !== 'fetch') ex.abandon('not-stored')
  return action
}

function rangeOf(method: string, range: string | null | undefined): RequestFacts['range'] {
  if (range == null || method !== 'GET') return 'none' // Range means nothing to HEAD (RFC 9110 §14.2)
  return isSingleRange(range) ? 'single' : 'other'
}

function unknownUpstream(name: string): Problem {
  return new Problem({
    kind: 'unknown-upstream',
    status: 404,
    title: 'Unknown upstream',
    detail: `no upstream is configured under the name ${JSON.stringify(name)}`,
    // Nothing was looked up or forwarded: the reason alone.
    headers: { 'cache-status': cacheStatus({ detail: 'unknown-upstream' }) },
  })
}
