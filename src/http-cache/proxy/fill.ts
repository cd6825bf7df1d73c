// Going upstream for a GET: a miss, or the validation of a stale stored response (RFC 9111 §4.3). Concurrent trips
// for one URL collapse into one: the others wait and share its stored response, or its failure.
import { Problem } from '../../http/problem.ts'
import type { AbandonReason } from '../../store/types.ts'
import type { SENT } from '../../http/reply.ts'
import { cacheStatus, type Forward } from '../policy/cache-status.ts'
import { type StoredAnswer, fromLeader, staleForError, staleWhenUnreachable } from './decide.ts'
import type { Exchange } from './exchange.ts'
import type { MissOutcome, Settle } from './flights.ts'
import {
  UpstreamFailure,
  gather,
  storedFrom,
  storedHead,
  upstreamResponseHeaders,
  type BodyOutcome,
  type Forwarded,
} from './forward.ts'
import { answerItselfUnstorable, varyKey } from '../policy/policy.ts'
import { preallocate, type StoredResponse } from '../record.ts'
import type { FillHold } from './fill-memory.ts'
import { notModified } from './validation.ts'

/** How a fill ends: a stored response to answer with, or an answer already streamed to the client. */
export type FillAnswer = StoredAnswer | typeof SENT

/** What a fill comes to: an answer, or (for a range) the word to send the request upstream as it came. */
export type FillOutcome = FillAnswer | typeof AS_IT_CAME

/**
 * A fill for one byte range fetched a whole 200 it cannot keep (not storable, too large, no room): its body is
 * dropped and the request goes upstream as it came, Range and all (act.ts), rather than the whole body reaching a
 * client that asked for a part of it.
 */
export const AS_IT_CAME = Symbol('as it came')

const bodyFailed = (upstream: string, fwd: Forward) =>
  new Problem({
    kind: 'upstream-body-failed',
    status: 502,
    title: 'Bad gateway',
    detail: `upstream "${upstream}" cut the response body short`,
    headers: { 'cache-status': cacheStatus({ fwd, detail: 'upstream-body-failed' }) },
  })

/**
 * Goes upstream for `ex`: unconditionally for a miss (`stored` undefined), else conditionally, where a 304 refreshes
 * `stored` and an error may fall back to it (stale-if-error). With `collapse`, a trip already in flight for the URL
 * is waited on instead: its stored response serves this request when it fits this request's variant.
 */
export async function fill(
  ex: Exchange,
  stored: StoredResponse | undefined,
  fwd: Forward,
  collapse = true,
): Promise<FillOutcome> {
  const now = ex.services.now
  const leader = collapse ? ex.services.flights.misses.inFlight(ex.flightKey) : undefined
  if (leader) {
    const outcome = await leader
    if (outcome.kind === 'failed' || outcome.kind === 'error-status') {
      const status = outcome.kind === 'error-status' ? outcome.status : undefined
      const stale =
        staleForError(stored, ex.directives, now(), status) ??
        (status === undefined ? unreachable(ex, stored) : undefined)
      if (stale) return stale
    }
    if (outcome.kind === 'failed') throw outcome.problem
    // Not storable, or another variant: go alone.
    return fromLeader(outcome, ex.request, fwd) ?? fill(ex, stored, fwd, false)
  }
  const settle = lead(ex, collapse)
  if (!stored) ex.event('miss')
  let forwarded: Forwarded
  try {
    forwarded = await ex.send('GET', ex.upstreamHeaders({ conditionals: 'drop', validating: stored?.facts }), false)
  } catch (error) {
    const problem =
      error instanceof UpstreamFailure
        ? error.toProblem(ex.upstream.config.name, fwd)
        : bodyFailed(ex.upstream.config.name, fwd)
    settle({ kind: 'failed', problem })
    const stale = staleForError(stored, ex.directives, now()) ?? unreachable(ex, stored)
    if (stale) return stale
    // A miss's lookup may have taken a coalescing lock; a stored response's did not.
    if (!stored) ex.abandon('not-stored')
    throw problem
  }
  if (!stored) return respond(ex, forwarded, fwd, settle)
  if (forwarded.status === 304) return notModified(ex, stored, forwarded, fwd, settle)
  if (forwarded.status >= 500) {
    settle({ kind: 'error-status', status: forwarded.status })
    const stale = staleForError(stored, ex.directives, now(), forwarded.status)
    if (stale) {
      forwarded.body.resume()
      return stale
    }
  }
  ex.event('revalidated-200')
  return respond(ex, forwarded, fwd, settle)
}

/** The stored response standing in for an upstream that could not be reached, when the upstream's window allows. */
function unreachable(ex: Exchange, stored: StoredResponse | undefined): StoredAnswer | undefined {
  return staleWhenUnreachable(stored, ex.directives, ex.services.now(), ex.unreachableWindowMs)
}

/** Registers this request as the one that goes upstream for its URL; waiters get what `settle` is given. */
function lead(ex: Exchange, collapse: boolean): Settle {
  let settle: Settle = () => {}
  if (collapse)
    void ex.services.flights.misses.run(
      ex.flightKey,
      () =>
        new Promise<MissOutcome>((resolve) => {
          settle = resolve
        }),
    )
  return settle
}

/**
 * Answers with an upstream response that may be stored although no lookup missed it (a POST's, RFC 9110 §9.3.3),
 * storing it on the way: nobody waits on it.
 */
export function respondStoring(ex: Exchange, forwarded: Forwarded, fwd: Forward): FillAnswer | Promise<FillAnswer> {
  // Never AS_IT_CAME: only a GET is a range request (proxy.ts), and this answers a POST.
  return respond(ex, forwarded, fwd, () => {}) as FillAnswer | Promise<FillAnswer>
}

/** Answers with a fresh upstream response, storing it on the way when it may be stored. */
function respond(ex: Exchange, forwarded: Forwarded, fwd: Forward, settle: Settle): FillOutcome | Promise<FillOutcome> {
  const ranged = ex.oneRange && forwarded.status === 200
  if (forwarded.notStorable) {
    settle({ kind: 'not-stored' })
    ex.abandon(abandonReason(forwarded))
    if (ranged) return asItCame(forwarded)
    return ex.streamed(forwarded, { fwd, fwdStatus: forwarded.status, detail: forwarded.notStorable })
  }
  const hold = ex.fillHold()
  // A range is cut from the stored response: read whole first, whatever its length.
  if (forwarded.declaredLength === undefined || ranged)
    return gatherThenRespond(ex, forwarded, fwd, settle, hold, ranged)
  if (!hold.cover(forwarded.declaredLength)) {
    // No room to hold it while it is collected: answered as it streams, not stored (waiters go upstream themselves).
    ex.event('fill-memory')
    settle({ kind: 'not-stored' })
    ex.abandon('not-stored')
    return ex.streamed(forwarded, { fwd, fwdStatus: forwarded.status, detail: 'fill-memory' })
  }
  // A declared length (too-large ones are not storable) lets the body be collected straight into the stored record,
  // and Cache-Status say `stored` as the fields leave.
  const pending = preallocate(storedHead(forwarded), forwarded.declaredLength)
  const onBody = (outcome: BodyOutcome) => {
    if (!('complete' in outcome)) {
      hold.release()
      settle(
        'failed' in outcome
          ? { kind: 'failed', problem: bodyFailed(ex.upstream.config.name, fwd) }
          : { kind: 'not-stored' },
      )
      ex.abandon('not-stored') // cut short, or longer than it said
      return
    }
    const stored = pending.finish()
    void ex.store(stored).finally(() => {
      hold.release()
      settle({ kind: 'stored', response: stored, varyKey: varyKey(stored.facts.vary, ex.request) })
    })
  }
  const headers = upstreamResponseHeaders(forwarded, { fwd, fwdStatus: forwarded.status, stored: true })
  return ex.reply(forwarded.status, headers, forwarded.body, { into: pending.body, done: onBody })
}

/**
 * A storable body of unknown length (chunked) is read up to the object size limit before the fields leave, so the
 * answer can say what became of it: stored (and served from what was stored, with its length), too large (the bytes
 * read so far, then the rest as it comes), or a 502 when the upstream cut it short (nothing was sent yet).
 */
async function gatherThenRespond(
  ex: Exchange,
  forwarded: Forwarded,
  fwd: Forward,
  settle: Settle,
  hold: FillHold,
  ranged: boolean,
): Promise<FillOutcome> {
  const room = hold.roomFor(forwarded.declaredLength)
  const gathered = await gather(forwarded.body, ex.upstream.config.maxObjectBytes, room)
  if ('failed' in gathered) {
    hold.release()
    const problem = bodyFailed(ex.upstream.config.name, fwd)
    settle({ kind: 'failed', problem })
    ex.abandon('not-stored')
    throw problem
  }
  if ('over' in gathered) {
    // Not kept: waiters go upstream on their own at once (for a while when it is too large for any fill).
    if (gathered.reason === 'fill-memory') ex.event('fill-memory')
    settle({ kind: 'not-stored' })
    ex.abandon(gathered.reason === 'too-large' ? 'uncacheable' : 'not-stored')
    if (ranged) {
      hold.release()
      return asItCame(forwarded)
    }
    const headers = upstreamResponseHeaders(forwarded, { fwd, fwdStatus: forwarded.status, detail: gathered.reason })
    // The bytes read so far stay held until the client has them.
    return ex.replyAfter(forwarded.status, headers, gathered.over, forwarded.body, () => hold.release())
  }
  const stored = storedFrom(forwarded, gathered.complete)
  // Awaited (the body is whole already, the write is local): `stored` is then true when said, and the client's next
  // request finds it.
  await ex.store(stored).finally(() => hold.release())
  settle({ kind: 'stored', response: stored, varyKey: varyKey(stored.facts.vary, ex.request) })
  // This client sees the fields qualified private / no-cache withhold from later ones.
  const forThisClient = { ...stored, headers: forwarded.headers.filter(([name]) => name !== 'age') }
  return { stored: forThisClient, status: { fwd, fwdStatus: forwarded.status, stored: true } }
}

function asItCame(forwarded: Forwarded): typeof AS_IT_CAME {
  // Destroying undici's body emits an abort error: heard here, or it would take the process down.
  forwarded.body.on('error', () => {})
  forwarded.body.destroy()
  return AS_IT_CAME
}

/**
 * Whether other tasks may stop waiting on this URL for a while: only when the answer itself is not storable, and
 * not for upstream errors (transient: a herd on a failing upstream is when coalescing protects it most).
 */
function abandonReason(forwarded: Forwarded): AbandonReason {
  return forwarded.status < 500 && answerItselfUnstorable(forwarded.notStorable) ? 'uncacheable' : 'not-stored'
}
