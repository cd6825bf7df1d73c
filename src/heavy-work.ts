// Work on large bodies (hashing a value, encoding a bulk answer, copying slices into sockets, taking in an upload) runs
// a slice at a time, and before each slice it asks for a turn here. A turn is the next turn of the event loop, unless
// that turn came late (the loop is congested: other requests, or many slices of heavy work at once, are queued); then
// heavy work pauses so the small requests beside it (a 1 KiB GET is most of a sidecar's traffic) find the loop free.
// One large transfer on a quiet loop never pauses. Measured with npm run abuse: a loop of bulk gets of an 8 MB value
// put the normal clients' p99 at 4.6x its quiet figure when slices only yielded, never paused.
import { setImmediate as nextTurn } from 'node:timers/promises'

export interface HeavyWorkOptions {
  /** A turn of the loop that takes longer than this means the loop is congested. */
  readonly maxLagMs: number
  /** How long heavy work pauses before it looks again. */
  readonly pauseMs: number
  /** A slice waits at most this long: large transfers still progress on a loop kept busy by small requests alone. */
  readonly maxWaitMs: number
  readonly now?: () => number
  readonly sleep?: (ms: number) => Promise<void>
  readonly nextTurn?: () => Promise<unknown>
}

export const HEAVY_WORK_DEFAULTS: HeavyWorkOptions = { maxLagMs: 2, pauseMs: 2, maxWaitMs: 50 }

export class HeavyWork {
  readonly #options: HeavyWorkOptions
  readonly #now: () => number
  readonly #sleep: (ms: number) => Promise<void>
  readonly #nextTurn: () => Promise<unknown>

  constructor(options: HeavyWorkOptions = HEAVY_WORK_DEFAULTS) {
    this.#options = options
    this.#now = options.now ?? (() => performance.now())
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
    this.#nextTurn = options.nextTurn ?? (() => nextTurn())
  }

  /** Resolves when the next slice of heavy work may run: at the next turn of the loop, later while it is congested. */
  async turn(): Promise<void> {
    const { maxLagMs, pauseMs, maxWaitMs } = this.#options
    const started = this.#now()
    for (;;) {
      const asked = this.#now()
      await this.#nextTurn()
      const now = this.#now()
      if (now - asked <= maxLagMs || now - started >= maxWaitMs) return
      await this.#sleep(pauseMs)
    }
  }
}

/** The process's one event loop, shared by every kind of heavy work. */
export const heavyWork = new HeavyWork()
