// Per-instance coordination of upstream trips: the misses in flight per URL, and background refreshes per URL.
import type { Problem } from '../../http/problem.ts'
import type { StoredResponse } from '../record.ts'
import { SingleFlight } from './single-flight.ts'

/** What the one upstream trip for a URL turned into, shared with every request that waited on it. */
export type MissOutcome =
  | { readonly kind: 'stored'; readonly response: StoredResponse; readonly varyKey: string }
  | { readonly kind: 'not-stored' }
  | { readonly kind: 'failed'; readonly problem: Problem }
  /** The upstream answered 5xx to a revalidation: waiters may fall back to their stale copy. */
  | { readonly kind: 'error-status'; readonly status: number }

/** Hands the outcome of a trip upstream to the requests waiting on it. */
export type Settle = (outcome: MissOutcome) => void

/** Per-instance coordination: misses in flight per URL, background refreshes per URL. */
export interface Flights {
  readonly misses: SingleFlight<MissOutcome>
  readonly refreshes: SingleFlight<void>
}

export function createFlights(): Flights {
  return { misses: new SingleFlight(), refreshes: new SingleFlight() }
}
