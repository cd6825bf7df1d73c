// Deletes expired rows on a timer in small batches, yielding between batches so requests keep flowing.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { Store } from './types.ts'

export interface SweepReport {
  readonly removed: number
  readonly durationMs: number
}

export interface SweeperOptions {
  readonly store: Store
  readonly intervalMs: number
  /** Rows per DELETE; small enough that one batch never stalls the event loop for long. */
  readonly batchSize?: number
  readonly onSweep?: (report: SweepReport) => void
  readonly onError?: (error: unknown) => void
}

export class Sweeper {
  readonly #options: SweeperOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<SweepReport> | undefined
  #stopped = false

  constructor(options: SweeperOptions) {
    this.#options = options
  }

  start(): void {
    if (this.#timer || this.#stopped) return
    // #sweep reports its own failures (onError) and never rejects: the catch only keeps a timer from throwing.
    this.#timer = setInterval(() => void this.runOnce().catch(() => {}), this.#options.intervalMs)
    this.#timer.unref()
  }

  /** One full pass: every expired row, then store upkeep. A pass already running is joined, not doubled. */
  runOnce(): Promise<SweepReport> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  /** Stops the timer and waits for a pass in progress to finish its current batch. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#running?.catch(() => {}) // already reported through onError; stopping only waits for it
  }

  async #sweep(): Promise<SweepReport> {
    const { store, batchSize = 200, onSweep, onError } = this.#options
    const started = performance.now()
    let removed = 0
    try {
      for (;;) {
        const batch = await store.sweepExpired(batchSize)
        removed += batch.removed
        if (!batch.more || this.#stopped) break
        await yieldToEventLoop()
      }
      if (!this.#stopped) await store.maintain()
    } catch (error) {
      onError?.(error)
    }
    const report = { removed, durationMs: performance.now() - started }
    onSweep?.(report)
    return report
  }
}
