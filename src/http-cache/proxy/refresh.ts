// stale-while-revalidate (RFC 5861 §3): the stored response is validated in the background while it is served.
import type { Exchange } from './exchange.ts'
import { gather, storedFrom } from './forward.ts'
import type { StoredResponse } from '../record.ts'
import { mergeNotModified } from './validation.ts'

/** Refreshes `stored` in the background, at most once at a time per URL. */
export function refreshInBackground(ex: Exchange, stored: StoredResponse): void {
  ex.services.flights.refreshes.run(ex.flightKey, async () => {
    try {
      const forwarded = await ex.send(
        'GET',
        ex.upstreamHeaders({ conditionals: 'drop', validating: stored.facts }),
        false,
      )
      if (forwarded.status === 304) {
        forwarded.body.resume()
        const merged = mergeNotModified(stored, forwarded, ex.client, ex.upstream.config.defaultTtlMs)
        await (merged.notStorable ? ex.dropUnstorable(merged.notStorable) : ex.store(merged.response))
        return
      }
      if (forwarded.notStorable) {
        forwarded.body.resume()
        return
      }
      const hold = ex.fillHold()
      try {
        const room = hold.roomFor(forwarded.declaredLength)
        const outcome = await gather(forwarded.body, ex.upstream.config.maxObjectBytes, room)
        if ('over' in outcome) {
          if (outcome.reason === 'fill-memory') ex.event('fill-memory')
          forwarded.body.destroy() // nobody reads the rest
        }
        if ('complete' in outcome) await ex.store(storedFrom(forwarded, outcome.complete))
      } finally {
        hold.release()
      }
    } catch (error) {
      ex.services.logger.warn(
        { event: 'background_refresh_failed', upstream: ex.upstream.config.name, err: (error as Error).message },
        'stale-while-revalidate refresh failed',
      )
    }
  })
}
