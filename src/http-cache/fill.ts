// Going upstream for a GET: misses (collapsed per URL), revalidation of stale entries, background refresh.
import { Problem } from '../http/problem.ts'
import type { Answer, Reply } from './answer.ts'
import { OvertakenByPurgeError, type AbandonReason } from '../store/types.ts'
import type { Forward } from './cache-status.ts'
import type { Exchange } from './exchange.ts'
import type { MissOutcome } from './flights.ts'
import {
  UpstreamFailure,
  collectBody,
  storedFrom,
  storedHead,
  upstreamResponseHeaders,
  type BodyOutcome,
  type Forwarded,
} from './forward.ts'
import { getter, type HeaderList } from './headers.ts'
import {
  answerItselfUnstorable,
  notStorable,
  responseFacts,
  retentionMs,
  staleIfError,
  varyKey,
  type NotStorable,
} from './policy.ts'
import { preallocate, type StoredResponse } from './record.ts'
import { serveStored } from './serve.ts'

const bodyFailed = (upstream: string) =>
  new Problem({
    kind: 'upstream-body-failed',
    status: 502,
    title: 'Bad gateway',
    detail: `upstream "${upstream}" cut the response body short`,
  })

/** A miss: concurrent misses for one URL make one upstream request and share its stored bytes or its error. */
export async function fetchMiss(ex: Exchange, fwd: Forward, collapse = true): Promise<Answer> {
  const leader = collapse ? ex.services.flights.misses.inFlight(ex.flightKey) : undefined
  if (leader) {
    const outcome = await leader
    if (outcome.kind === 'failed') throw outcome.problem
    return serveCollapsed(ex, outcome, fwd) ?? fetchMiss(ex, fwd, false) // not storable, or another variant: go alone
  }
  const settle = lead(ex, collapse)
  ex.event('miss')
  let forwarded: Forwarded
  try {
    forwarded = await ex.send('GET', ex.upstreamHeaders({ conditionals: 'drop' }), false)
  } catch (error) {
    const problem =
      error instanceof UpstreamFailure ? error.toProblem(ex.upstream.config.name) : bodyFailed(ex.upstream.config.name)
    settle({ kind: 'failed', problem })
    ex.abandon('not-stored')
    throw problem
  }
  return respond(ex, forwarded, fwd, settle)
}

/** Registers this request as the one that goes upstream for its URL; waiters get what `settle` is given. */
function lead(ex: Exchange, collapse: boolean): (outcome: MissOutcome) => void {
  let settle: (outcome: MissOutcome) => void = () => {}
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

/** A waiter's answer from the leader's stored response, if it stored one for this request's variant. */
function serveCollapsed(ex: Exchange, outcome: MissOutcome, fwd: Forward): Reply | undefined {
  if (outcome.kind !== 'stored' || outcome.varyKey !== varyKey(outcome.response.facts.vary, ex.request))
    return undefined
  ex.event('collapsed')
  return serveStored(outcome.response, ex.request, ex.method, ex.services.now(), {
    fwd,
    fwdStatus: outcome.response.facts.status,
    collapsed: true,
  })
}

/** Answers with a fresh upstream response, storing it on the way when it may be stored. */
function respond(ex: Exchange, forwarded: Forwarded, fwd: Forward, settle: (outcome: MissOutcome) => void): Answer {
  if (forwarded.notStorable) {
    settle({ kind: 'not-stored' })
    ex.abandon(abandonReason(forwarded))
    return ex.streamed(forwarded, { fwd, fwdStatus: forwarded.status, detail: forwarded.notStorable })
  }
  // A declared length (too-large ones are not storable) lets the body be collected straight into the stored record.
  const limit = ex.upstream.config.maxObjectBytes
  const pending =
    forwarded.declaredLength !== undefined ? preallocate(storedHead(forwarded), forwarded.declaredLength) : undefined
  // Too large to keep: waiters go upstream on their own at once, and whatever becomes of this client's copy (it may
  // leave, which ends its upstream body) is no failure of theirs.
  let released = false
  const onOverflow = () => {
    released = true
    settle({ kind: 'not-stored' })
    ex.abandon('uncacheable')
  }
  const onBody = (outcome: BodyOutcome) => {
    if (released) return
    if (!('complete' in outcome)) {
      settle(
        'failed' in outcome ? { kind: 'failed', problem: bodyFailed(ex.upstream.config.name) } : { kind: 'not-stored' },
      )
      ex.abandon('failed' in outcome ? 'not-stored' : 'uncacheable') // larger than the object size limit
      return
    }
    const stored = pending ? pending.finish() : storedFrom(forwarded, outcome.complete)
    void save(ex, stored).finally(() =>
      settle({ kind: 'stored', response: stored, varyKey: varyKey(stored.facts.vary, ex.request) }),
    )
  }
  const headers = upstreamResponseHeaders(forwarded, { fwd, fwdStatus: forwarded.status, stored: true })
  return ex.reply(forwarded.status, headers, forwarded.body, {
    limit,
    done: onBody,
    onOverflow,
    ...(pending && { into: pending.body }),
  })
}

/**
 * Whether other tasks may stop waiting on this URL for a while: only when the answer itself is not storable, and
 * not for upstream errors (transient: a herd on a failing upstream is when coalescing protects it most).
 */
function abandonReason(forwarded: Forwarded): AbandonReason {
  return forwarded.status < 500 && answerItselfUnstorable(forwarded.notStorable) ? 'uncacheable' : 'not-stored'
}

async function save(ex: Exchange, stored: StoredResponse): Promise<void> {
  try {
    await ex.services.cache.save(
      ex.upstream.config.name,
      ex.key,
      ex.request,
      stored,
      retentionMs(stored.facts, ex.upstream.config.staleRetentionMs),
      ex.fillStart,
      ex.hadVariants,
    )
    ex.event('stored')
    // A variant's miss answered without Vary is stored under the URL: the lock on the variant's key ends too.
    if (ex.missedKey !== ex.key) ex.abandon('not-stored')
  } catch (error) {
    if (error instanceof OvertakenByPurgeError) {
      ex.event('overtaken')
      ex.abandon('not-stored')
      return
    }
    // Full or locked store: the response was served all the same; it just is not cached.
    ex.abandon('not-stored')
    ex.services.logger.warn(
      { event: 'proxy_store_failed', upstream: ex.upstream.config.name, err: (error as Error).message },
      'response not stored',
    )
  }
}

/**
 * Validates a stale entry with the upstream (RFC 9111 §4.3): 304 refreshes it, errors may fall back to it.
 * Concurrent validations of one URL make one upstream request: waiters share its result, or on failure each
 * falls back to the same stale copy when stale-if-error allows it, else gets the same error.
 */
export async function revalidate(
  ex: Exchange,
  stored: StoredResponse,
  fwd: 'stale' | 'request',
  collapse = true,
): Promise<Answer> {
  const leader = collapse ? ex.services.flights.misses.inFlight(ex.flightKey) : undefined
  if (leader) {
    const outcome = await leader
    const failed = outcome.kind === 'failed' || outcome.kind === 'error-status'
    if (failed && staleIfError(stored.facts, ex.directives, ex.services.now())) {
      return serveStale(ex, stored, 'stale-if-error', outcome.kind === 'error-status' ? outcome.status : undefined)
    }
    if (outcome.kind === 'failed') throw outcome.problem
    return serveCollapsed(ex, outcome, fwd) ?? revalidate(ex, stored, fwd, false)
  }
  const settle = lead(ex, collapse)
  let forwarded: Forwarded
  try {
    forwarded = await ex.send('GET', conditionalHeaders(ex, stored), false)
  } catch (error) {
    const problem =
      error instanceof UpstreamFailure ? error.toProblem(ex.upstream.config.name) : bodyFailed(ex.upstream.config.name)
    settle({ kind: 'failed', problem })
    if (staleIfError(stored.facts, ex.directives, ex.services.now())) return serveStale(ex, stored, 'stale-if-error')
    throw problem
  }
  if (forwarded.status === 304) {
    forwarded.body.resume()
    const merged = mergeNotModified(ex, stored, forwarded)
    ex.event('revalidated-304')
    if (merged.notStorable) {
      // The upstream's latest word makes the response unstorable: this client gets it (cookie included), nobody else.
      settle({ kind: 'not-stored' })
      await dropUnstorable(ex, merged.notStorable)
      return serveStored(merged.forClient, ex.request, ex.method, ex.services.now(), {
        fwd,
        fwdStatus: 304,
        detail: merged.notStorable,
      })
    }
    await save(ex, merged.response)
    settle({ kind: 'stored', response: merged.response, varyKey: varyKey(merged.response.facts.vary, ex.request) })
    return serveStored(merged.response, ex.request, ex.method, ex.services.now(), { fwd, fwdStatus: 304, stored: true })
  }
  if (forwarded.status >= 500) settle({ kind: 'error-status', status: forwarded.status })
  if (forwarded.status >= 500 && staleIfError(stored.facts, ex.directives, ex.services.now())) {
    forwarded.body.resume()
    return serveStale(ex, stored, 'stale-if-error', forwarded.status)
  }
  ex.event('revalidated-200')
  return respond(ex, forwarded, fwd, settle)
}

/** stale-while-revalidate: refreshes in the background, at most once at a time per URL. */
export function refreshInBackground(ex: Exchange, stored: StoredResponse): void {
  ex.services.flights.refreshes.run(ex.flightKey, async () => {
    try {
      const forwarded = await ex.send('GET', conditionalHeaders(ex, stored), false)
      if (forwarded.status === 304) {
        forwarded.body.resume()
        const merged = mergeNotModified(ex, stored, forwarded)
        await (merged.notStorable ? dropUnstorable(ex, merged.notStorable) : save(ex, merged.response))
        return
      }
      if (forwarded.notStorable) {
        forwarded.body.resume()
        return
      }
      const outcome = await collectBody(forwarded.body, ex.upstream.config.maxObjectBytes)
      if ('complete' in outcome) await save(ex, storedFrom(forwarded, outcome.complete))
    } catch (error) {
      ex.services.logger.warn(
        { event: 'background_refresh_failed', upstream: ex.upstream.config.name, err: (error as Error).message },
        'stale-while-revalidate refresh failed',
      )
    }
  })
}

function serveStale(ex: Exchange, stored: StoredResponse, detail: string, fwdStatus?: number): Reply {
  ex.event('stale')
  return serveStored(stored, ex.request, ex.method, ex.services.now(), {
    hit: true,
    fwd: 'stale',
    detail,
    ...(fwdStatus !== undefined && { fwdStatus }),
  })
}

function conditionalHeaders(ex: Exchange, stored: StoredResponse): HeaderList {
  const headers = ex.upstreamHeaders({ conditionals: 'drop' })
  if (stored.facts.etag) headers.push(['if-none-match', stored.facts.etag])
  if (stored.facts.lastModified) headers.push(['if-modified-since', stored.facts.lastModified])
  return headers
}

/** Fields of a 304 never merged into a stored response: recomputed on every reuse, or one user's own (Set-Cookie). */
const NOT_MERGED = new Set(['content-length', 'age', 'set-cookie'])

interface Merged {
  /** The stored response with the 304's fields (RFC 9111 §4.3.4), freshness computed anew. */
  readonly response: StoredResponse
  /** The same, plus the 304's Set-Cookie fields: only ever sent to the client whose request drew the 304. */
  readonly forClient: StoredResponse
  /** Why the merged response may not be stored, by the same decision as a fresh response's. */
  readonly notStorable: NotStorable | undefined
}

/** RFC 9111 §4.3.4: the 304's fields replace the stored ones, and the result is judged as if it were a new response. */
function mergeNotModified(ex: Exchange, stored: StoredResponse, notModified: Forwarded): Merged {
  const replaced = new Set(notModified.headers.map(([name]) => name).filter((name) => !NOT_MERGED.has(name)))
  const headers: HeaderList = [
    ...stored.headers.filter(([name]) => !replaced.has(name)),
    ...notModified.headers.filter(([name]) => replaced.has(name)),
  ]
  const personal = notModified.headers.filter(([name]) => name === 'set-cookie')
  const asReceived = getter([
    ...headers,
    ...notModified.headers.filter(([name]) => name === 'age' || name === 'set-cookie'),
  ])
  const { defaultTtlMs } = ex.upstream.config
  const facts = responseFacts(
    stored.facts.status,
    asReceived,
    notModified.requestTime,
    notModified.facts.responseTime,
    defaultTtlMs,
  )
  const response = { facts, headers, body: stored.body }
  const reason = notStorable(
    {
      method: 'GET',
      request: ex.request,
      credential: ex.carriesCredential,
      status: stored.facts.status,
      response: asReceived,
      defaultTtlMs,
    },
    facts,
  )
  return {
    response,
    forClient: personal.length > 0 ? { ...response, headers: [...headers, ...personal] } : response,
    notStorable: reason,
  }
}

/**
 * A stored response the upstream has since declared unstorable (private, no-store, Set-Cookie on its 304) is removed,
 * every variant of it; when the reason is this request's own (its Cookie, say), the stored copy stays as it was.
 */
async function dropUnstorable(ex: Exchange, reason: NotStorable): Promise<void> {
  if (!answerItselfUnstorable(reason)) return
  try {
    await ex.services.cache.invalidate(ex.upstream.config.name, ex.key)
  } catch (error) {
    ex.services.logger.warn(
      { event: 'proxy_store_failed', upstream: ex.upstream.config.name, err: (error as Error).message },
      'unstorable response not removed',
    )
  }
}
