// Work on large bodies (hashing a value, encoding a bulk answer, copying slices into sockets, taking in an upload) runs
// a slice at a time, and before each slice it asks for a turn here. While the event loop has been busy most of the
// last few milliseconds, a turn waits: the small requests beside it (a 1 KiB GET is most of a sidecar's traffic) find
// the loop free instead of queued behind megabytes. Measured with npm run abuse: a loop of bulk gets of an 8 MB value
// put the normal clients' p99 at 4.6× its quiet figure, with every slice yielding once but never waiting.
import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import { setImmediate as nextTurn } from 'node:timers/promises'

export interface HeavyWorkOptions {
  /** Above this share of busy time in the current window, slices wait. */
  readonly maxUtilization: number
  /** How much recent history the share is taken over (a new window starts after this long). */
  readonly windowMs: number
  /** How long a waiting slice sleeps before it looks again. */
  readonly pauseMs: number
  /** A slice waits at most this long: large transfers still progress on a loop kept busy by small requests alone. */
  readonly maxWaitMs: number
  /** Busy share of the event loop since the window began, and the window's length in ms (injectable for tests). */
  readonly utilization?: () => { share: number; ms: number }
  readonly sleep?: (ms: number) => Promise<void>
  readonly now?: () => number
}

export const HEAVY_WORK_DEFAULTS: HeavyWorkOptions = { maxUtilization: 0.5, windowMs: 20, pauseMs: 2, maxWaitMs: 50 }

export class HeavyWork {
  readonly #options: HeavyWorkOptions
  readonly #utilization: () => { share: number; ms: number }
  readonly #sleep: (ms: number) => Promise<void>
  readonly #now: () => number

  constructor(options: HeavyWorkOptions = HEAVY_WORK_DEFAULTS) {
    this.#options = options
    this.#utilization = options.utilization ?? loopUtilization(options.windowMs)
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
    this.#now = options.now ?? performance.now.bind(performance)
  }

  /** Resolves when the next slice of heavy work may run: at the next turn of the loop, later while it is busy. */
  async turn(): Promise<void> {
    const { maxUtilization, pauseMs, maxWaitMs } = this.#options
    const started = this.#now()
    for (;;) {
      const { share, ms } = this.#utilization()
      if (ms < pauseMs || share <= maxUtilization || this.#now() - started >= maxWaitMs) break
      await this.#sleep(pauseMs)
    }
    await nextTurn()
  }
}

/** The event loop's busy share over a window that restarts every `windowMs` (keeping the previous one as history). */
function loopUtilization(windowMs: number): () => { share: number; ms: number } {
  let previous: EventLoopUtilization = performance.eventLoopUtilization()
  let current: EventLoopUtilization = previous
  return () => {
    const sinceCurrent = performance.eventLoopUtilization(current)
    if (sinceCurrent.idle + sinceCurrent.active >= windowMs) {
      previous = current
      current = performance.eventLoopUtilization()
    }
    const window = performance.eventLoopUtilization(previous)
    return { share: window.utilization, ms: window.idle + window.active }
  }
}

/** The process's one event loop, shared by every kind of heavy work. */
export const heavyWork = new HeavyWork()
