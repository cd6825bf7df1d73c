// The act step of a proxied request (proxy.ts: lookup → decide → act): serve the stored response, validate it, fill
// a miss, pass the request through, or refuse it; whatever stored response ends up answering is served here.
import { Problem } from '../../http/problem.ts'
import { SENT, type Answer } from '../../http/reply.ts'
import { cacheStatus, type Forward } from '../policy/cache-status.ts'
import type { Action } from './decide.ts'
import type { Exchange } from './exchange.ts'
import { AS_IT_CAME, type FillAnswer, type FillOutcome, fill } from './fill.ts'
import { passThrough } from './pass.ts'
import { refreshInBackground } from './refresh.ts'
import { serveStored } from './serve.ts'

/** Act on the decision (once it is made), then answer: a stored response is served here, whichever way it was chosen. */
export function answer(ex: Exchange, decided: Action | Promise<Action>): Answer | Promise<Answer> {
  const acted = decided instanceof Promise ? decided.then((action) => act(ex, action)) : act(ex, decided)
  const serve = (answered: FillAnswer) => served(ex, answered)
  return acted instanceof Promise ? acted.then(serve) : serve(acted)
}

function served(ex: Exchange, answered: FillAnswer): Answer {
  if (answered === SENT) return SENT
  if (answered.event) ex.event(answered.event)
  // A range request that went upstream for the whole response is cut from what it stored (or its stale copy).
  const cut = ex.oneRange && !answered.range && answered.stored.facts.status === 200
  return serveStored(cut ? { ...answered, range: true } : answered, ex.request, ex.method, ex.services.now())
}

/** A range fill that fetched a whole response it could not keep sends the request upstream as it came (fill.ts). */
async function orAsItCame(ex: Exchange, filled: Promise<FillOutcome>, fwd: Forward): Promise<FillAnswer> {
  const answered = await filled
  return answered === AS_IT_CAME ? passThrough(ex, fwd, 'range') : answered
}

function act(ex: Exchange, action: Action): FillAnswer | Promise<FillAnswer> {
  switch (action.act) {
    case 'serve':
      if (action.refresh) refreshInBackground(ex, action.stored)
      return action
    case 'validate':
      return orAsItCame(ex, fill(ex, action.stored, action.fwd), action.fwd)
    case 'fetch':
      return orAsItCame(ex, fill(ex, undefined, action.fwd), action.fwd)
    case 'pass':
      return passThrough(ex, action.fwd, action.detail)
    case 'not-cached':
      throw new Problem({
        kind: 'not-cached',
        status: 504,
        title: 'Not cached',
        detail: `only-if-cached, and nothing usable is stored for ${ex.key}`,
        headers: { 'cache-status': cacheStatus({ fwd: action.fwd, detail: 'only-if-cached' }) },
      })
  }
}
