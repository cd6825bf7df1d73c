// The one connection's writes: queued for the next group commit (write-queue.ts), each commit one IMMEDIATE
// transaction that makes room first and retries SQLITE_BUSY, and the count of rows, kept through rollbacks.
import type { DatabaseSync } from 'node:sqlite'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { StoreEvents } from '../types.ts'
import { type RetryPolicy, retryBusy } from './retry.ts'
import type { Statements } from './statements.ts'
import { WriteQueue } from './write-queue.ts'

export interface WriterOptions {
  readonly db: DatabaseSync
  readonly sql: Statements
  readonly retry: RetryPolicy
  readonly events: StoreEvents
  /** Runs `operation` after making room for `bytes` (eviction.ts withRoom). */
  withRoom<T>(bytes: number, operation: () => T): T
  /** After a commit that wrote about `bytes`. */
  wrote(bytes: number): void
  /** Deletes the value files of rows the transaction removed or replaced, before it commits. */
  reapFiles(): void
}

export class Writer {
  readonly #options: WriterOptions
  /** Writes waiting for the next group commit. */
  readonly #queue = new WriteQueue((bytes, operation) => this.#commit(bytes, operation))
  #closed = false
  /**
   * Rows in `entries`: whoever inserts or deletes rows in a transaction counts them here, and a rollback restores
   * the count. count(*) on the event loop took 495 ms per /metrics scrape at 10M entries; the database is empty at
   * every start, so the count starts at 0.
   */
  rows = 0

  constructor(options: WriterOptions) {
    this.#options = options
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Runs `operation` at once, outside the queue, retrying SQLITE_BUSY (reads, and single autocommit statements). */
  retrying<T>(operation: () => T): Promise<T> {
    return retryBusy(operation, this.#options.retry, this.#options.events.busyRetry)
  }

  /** Queues `operation`, which writes about `incomingBytes`, for the next group commit; it settles after the commit. */
  write<T>(incomingBytes: number, operation: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the store is closed'))
    return this.#queue.push(incomingBytes, operation)
  }

  /**
   * Runs `batch` (which deletes at most `size` rows and returns how many it did) through the queue until it deletes
   * fewer, yielding between batches. Through the queue, so a purge also removes what writes queued before it (a
   * response stored just as it was served) will commit, instead of running ahead of them.
   */
  async writeInBatches(size: number, batch: () => number): Promise<number> {
    let total = 0
    for (;;) {
      const changes = await this.write(0, batch)
      total += changes
      if (changes < size) return total
      await yieldToEventLoop()
    }
  }

  /** Runs `operation` in one IMMEDIATE transaction now; rolls back (and restores the row count) if it throws. */
  transaction<T>(operation: () => T): T {
    const rows = this.rows
    const { db, sql } = this.#options
    sql.begin.run()
    try {
      const result = operation()
      this.#options.reapFiles()
      sql.commit.run()
      return result
    } catch (error) {
      // SQLite may already have rolled back (e.g. on SQLITE_FULL); roll back only what is still open.
      if (db.isTransaction) sql.rollback.run()
      this.rows = rows
      throw error
    }
  }

  /** Waits for the queued writes, then refuses new ones. */
  async close(): Promise<void> {
    await this.#queue.flushed
    this.#closed = true
  }

  #commit<T>(incomingBytes: number, operation: () => T): Promise<T> {
    return this.retrying(() => {
      const result = this.#options.withRoom(incomingBytes, () => this.transaction(operation))
      this.#options.wrote(incomingBytes)
      return result
    })
  }
}
