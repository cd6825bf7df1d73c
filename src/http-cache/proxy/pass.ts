// Requests the cache does not answer go through to the upstream as they came; a successful unsafe method then
// invalidates what it may have changed (RFC 9111 §4.4), and a POST's answer may then be stored for later GETs.
import type { Forward } from '../policy/cache-status.ts'
import type { Exchange } from './exchange.ts'
import { respondStoring, type FillAnswer } from './fill.ts'
import { UpstreamFailure, type Forwarded } from './forward.ts'
import { getter } from '../headers.ts'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** Sends any request through uncached; a successful unsafe method invalidates what it may have changed (§4.4). */
export async function passThrough(ex: Exchange, fwd: Forward, detail?: string): Promise<FillAnswer> {
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
  // RFC 9110 §9.3.3: a POST answer with explicit freshness naming its own URL in Content-Location serves later GETs.
  if (ex.method === 'POST' && !forwarded.notStorable) {
    ex.restartFillAfterOwnPurge()
    return respondStoring(ex, forwarded, fwd)
  }
  return ex.streamed(forwarded, { fwd, fwdStatus: forwarded.status, ...(detail && { detail }) })
}

async function invalidateAfterWrite(ex: Exchange, response: (name: string) => string | null): Promise<void> {
  const { cache } = ex.services
  const name = ex.upstream.config.name
  await cache.invalidate(name, ex.key)
  for (const field of ['location', 'content-location']) {
    const target = ex.upstream.keyOf(response(field), ex.key)
    if (target !== undefined) await cache.invalidate(name, target)
  }
}
