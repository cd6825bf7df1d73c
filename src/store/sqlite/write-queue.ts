// Group commit: writes issued within one turn of the event loop share one IMMEDIATE transaction (measured: 32 µs
// per 1 KiB upsert alone, 15 µs in fours, 9.5 µs in sixteens). Each write still sees the ones queued before it, and
// its promise settles only after the commit.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { StoreBusyError } from '../types.ts'

/** Most bytes one transaction of queued writes carries (a single larger write goes alone). */
const FLUSH_BATCH_BYTES = 1024 ** 2

interface QueuedWrite {
  readonly bytes: number
  readonly operation: () => unknown
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

/** Runs `operation` in one transaction that makes room for `bytes` first. */
export type Commit = <T>(bytes: number, operation: () => T) => Promise<T>

export class WriteQueue {
  readonly #commit: Commit
  #queue: QueuedWrite[] = []
  #flushing: Promise<void> | undefined

  constructor(commit: Commit) {
    this.#commit = commit
  }

  /** Settles once the writes queued so far have been committed (or have failed). */
  get flushed(): Promise<void> | undefined {
    return this.#flushing
  }

  /** Queues `operation`, which will write about `bytes`, for the next group commit. */
  push<T>(bytes: number, operation: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queued = this.#queue.push({ bytes, operation, resolve: resolve as (value: unknown) => void, reject })
      if (queued === 1) this.#flushing = new Promise((done) => setImmediate(() => void this.#flush().finally(done)))
    })
  }

  /**
   * Commits the queue in transactions of at most FLUSH_BATCH_BYTES, yielding between them: one commit of many large
   * values held the event loop for tens of ms in the soak.
   */
  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      let take = 1
      let bytes = this.#queue[0]!.bytes
      while (take < this.#queue.length && bytes + this.#queue[take]!.bytes <= FLUSH_BATCH_BYTES) {
        bytes += this.#queue[take++]!.bytes
      }
      await this.#commitBatch(this.#queue.splice(0, take), bytes)
      if (this.#queue.length > 0) await yieldToEventLoop()
    }
  }

  async #commitBatch(batch: QueuedWrite[], bytes: number): Promise<void> {
    let results: unknown[] | undefined
    try {
      results = await this.#commit(bytes, () => batch.map((write) => write.operation()))
    } catch (error) {
      // Locked through every retry: replaying alone would only wait again.
      if (error instanceof StoreBusyError) {
        for (const write of batch) write.reject(error)
        return
      }
      // One write failed (or the batch did not fit) and took the transaction with it: replay each alone.
    }
    if (results) {
      for (const [i, write] of batch.entries()) write.resolve(results[i])
      return
    }
    for (const write of batch) {
      try {
        write.resolve(await this.#commit(write.bytes, write.operation))
      } catch (error) {
        write.reject(error)
      }
    }
  }
}
