// The /u/<name>/… route: lookup → decide → act. Looks the request up in the cache (unless it may never be answered
// from there), decides what to do with what was found (decide.ts, pure), then serves, fills or passes it through.
// Served straight from Node, outside Hono (listener.ts): this is the hot path, and it writes to the socket itself.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Problem } from '../../http/problem.ts'
import { SENT, type Answer } from './answer.ts'
import type { Lookup } from '../response-cache.ts'
import { type Action, type RequestFacts, afterLookup, beforeLookup } from './decide.ts'
import { Exchange, type ProxyServices } from './exchange.ts'
import { type FillAnswer, fill } from './fill.ts'
import { passThrough } from './pass.ts'
import { refreshInBackground } from './refresh.ts'
import { carriesAny } from './request-fields.ts'
import { serveStored } from './serve.ts'
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
    ranged: ex.request('range') !== null,
    unkeyed: carriesAny(incoming.headers, upstream.unkeyedFields),
  }
  // Lookup, unless the cache may never answer this request; from memory at once when the store can.
  const early = beforeLookup(request)
  if (early) return answer(ex, early)
  const peeked = deps.cache.peek(upstream.config.name, ex.key, ex.request)
  if (peeked) return answer(ex, decide(ex, request, peeked))
  return deps.cache
    .lookup(upstream.config.name, ex.key, ex.request)
    .then((lookup) => answer(ex, decide(ex, request, lookup)))
}

/** Decide what to do with what the lookup found, noting what a fill will need of it. */
function decide(ex: Exchange, request: RequestFacts, lookup: Lookup): Action {
  ex.hadVariants = lookup.kind === 'vary-miss' || (lookup.kind === 'hit' && lookup.response.facts.vary.length > 0)
  if (lookup.kind === 'vary-miss') ex.missedKey = lookup.variantKey
  const action = afterLookup(request, lookup, ex.services.now())
  // A miss that will not be filled from here releases the coalescing lock its lookup may have taken.
  if (lookup.kind !== 'hit' && action.act !== 'fetch') ex.abandon('not-stored')
  return action
}

/** Act, then answer: a stored response is served here, whichever way it was chosen. */
function answer(ex: Exchange, action: Action): Answer | Promise<Answer> {
  const acted = act(ex, action)
  return acted instanceof Promise ? acted.then((answered) => served(ex, answered)) : served(ex, acted)
}

function served(ex: Exchange, answered: FillAnswer): Answer {
  if (answered === SENT) return SENT
  ex.event(answered.event)
  return serveStored(answered, ex.request, ex.method, ex.services.now())
}

function act(ex: Exchange, action: Action): FillAnswer | Promise<FillAnswer> {
  switch (action.act) {
    case 'serve':
      if (action.refresh) refreshInBackground(ex, action.stored)
      return action
    case 'validate':
      return fill(ex, action.stored, action.fwd)
    case 'fetch':
      return fill(ex, undefined, action.fwd)
    case 'pass':
      return passThrough(ex, action.fwd, action.detail)
    case 'not-cached':
      throw new Problem({
        kind: 'not-cached',
        status: 504,
        title: 'Not cached',
        detail: `only-if-cached, and nothing usable is stored for ${ex.key}`,
      })
  }
}

function unknownUpstream(name: string): Problem {
  return new Problem({
    kind: 'unknown-upstream',
    status: 404,
    title: 'Unknown upstream',
    detail: `no upstream is configured under the name ${JSON.stringify(name)}`,
  })
}
