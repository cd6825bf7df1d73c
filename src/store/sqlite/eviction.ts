// Keeps the store inside its byte budget: evicts synchronously when a write would pass the hard mark or the disk
// answers SQLITE_FULL, and in the background (a batch per turn of the event loop) down to the low mark, expired rows
// first, then the least recently written, sparing entries read since (recent-reads.ts); hands free pages back to the
// filesystem near the hard limit.
import type { DatabaseSync } from 'node:sqlite'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { StoreFullError, type StoreEvents } from '../types.ts'
import { HIGH_WATERMARK, LOW_WATERMARK, ROW_OVERHEAD_BYTES, type DiskBudget } from './budget.ts'
import { isFull } from './errors.ts'
import type { RecentReads } from './recent-reads.ts'
import type { Statements } from './statements.ts'
import type { Writer } from './writer.ts'

/** Above this share of the budget a write evicts synchronously before it lands; below, maintenance does. */
export const HARD_WATERMARK = 0.97
const EVICT_BATCH = 256
/** Batches in a row that may only spare recently read entries before eviction ignores reads (see evictBatch). */
const SPARE_ROUNDS = 4
/**
 * At most this many bytes leave per eviction transaction, and at most VACUUM_STEP_PAGES go back to the filesystem
 * per step: deleting or vacuuming tens of MiB in one go held the event loop for 150–250 ms in the soak.
 */
export const EVICT_BATCH_BYTES = 4 * 1024 ** 2
const VACUUM_STEP_PAGES = 512

/** What eviction needs of the store it works for. */
export interface EvictionHost {
  readonly db: DatabaseSync
  readonly sql: Statements
  readonly budget: DiskBudget
  readonly recent: RecentReads
  readonly events: StoreEvents
  readonly now: () => number
  /** The store's transactions and row count: rows eviction deletes are counted there. */
  readonly writer: Pick<Writer, 'closed' | 'transaction' | 'rows'>
  /** Deletes the value files of rows just removed. */
  reapFiles(): void
}

export class Eviction {
  readonly #host: EvictionHost
  #rebalancing: Promise<void> | undefined

  constructor(host: EvictionHost) {
    this.#host = host
  }

  /** The background pass running now, if any. */
  get rebalancing(): Promise<void> | undefined {
    return this.#rebalancing
  }

  /** Keeps a write inside the budget: evicts synchronously near the hard limit, turns SQLITE_FULL into eviction. */
  withRoom<T>(incomingBytes: number, operation: () => T): T {
    if (this.#host.budget.mayExceed(incomingBytes) && this.#host.budget.usedAbove(HARD_WATERMARK, incomingBytes)) {
      this.evictDownTo(HARD_WATERMARK, incomingBytes)
    }
    try {
      return operation()
    } catch (error) {
      if (!isFull(error)) throw error
      // Only what this write needs now (freed pages are reused at once); the background pass does the rest in steps.
      let freed: number
      try {
        freed = this.evictBytes(incomingBytes * 2 + EVICT_BATCH_BYTES)
      } catch (evictError) {
        // The disk is too full even to log a delete: no write can land until space comes back; reads go on.
        if (!isFull(evictError)) throw evictError
        throw new StoreFullError(`no room for ${incomingBytes} bytes: the disk is full`, { cause: evictError })
      }
      this.scheduleRebalance()
      try {
        return operation()
      } catch (retryError) {
        if (!isFull(retryError)) throw retryError
        throw new StoreFullError(`no room for ${incomingBytes} bytes after evicting ${freed} bytes`, {
          cause: retryError,
        })
      }
    }
  }

  /** Synchronously back under `fraction` with a batch of slack; the background pass continues to the low mark. */
  evictDownTo(fraction: number, incomingBytes: number): void {
    this.evictBytes(
      this.#host.budget.usedBytes() + incomingBytes - this.#host.budget.maxBytes * fraction + EVICT_BATCH_BYTES,
    )
    this.scheduleRebalance()
  }

  /** Evicts about `bytes` of rows, expired ones first (or everything); returns the bytes freed. */
  evictBytes(bytes: number): number {
    let freed = 0
    for (let batch = 1; freed < bytes && batch > 0; ) {
      batch = this.#evictBatch(bytes - freed)
      freed += batch
    }
    return freed
  }

  /**
   * Deletes one batch: up to EVICT_BATCH expired rows if there are any, else the least recently used rows
   * whose sizes add up to `bytes`. Returns the bytes freed (0: nothing left to delete).
   */
  #evictBatch(bytes: number): number {
    const expired = this.#host.sql.evictExpiredBatch.all(this.#host.now(), EVICT_BATCH) as { size: number }[]
    this.#host.writer.rows -= expired.length
    this.#host.reapFiles()
    if (expired.length > 0) {
      this.#host.events.evicted?.('expired', expired.length)
      return expired.reduce((sum, row) => sum + row.size + ROW_OVERHEAD_BYTES, 0)
    }
    // Least recently written or spared first; an entry read since then is spared once (its place in line becomes
    // its last read) instead of evicted. After SPARE_ROUNDS batches that evicted nothing, the line's order alone
    // decides: eviction always makes progress.
    for (let round = 0; ; round++) {
      const honourReads = round < SPARE_ROUNDS
      const candidates = this.#host.sql.selectLeastRecent.all(EVICT_BATCH) as {
        id: number
        namespace: string
        key: string
        size: number
        last_access: number
      }[]
      let freed = 0
      let deleted = 0
      let spared = 0
      this.#host.writer.transaction(() => {
        for (const { id, namespace, key, size, last_access: lastAccess } of candidates) {
          if (freed >= bytes || freed >= EVICT_BATCH_BYTES) break
          const readAt = honourReads ? this.#host.recent.readAt(namespace, key) : 0
          if (readAt > lastAccess) {
            this.#host.sql.touch.run(readAt, id)
            spared++
            continue
          }
          this.#host.sql.deleteById.run(id)
          this.#host.writer.rows -= 1
          freed += size + ROW_OVERHEAD_BYTES
          deleted++
        }
      })
      if (deleted > 0) this.#host.events.evicted?.('lru', deleted)
      if (deleted > 0 || spared === 0) return freed
    }
  }

  scheduleRebalance(): void {
    if (this.#rebalancing || this.#host.writer.closed) return
    this.#rebalancing = this.rebalance().finally(() => {
      this.#rebalancing = undefined
    })
  }

  /** Brings the store below the low watermark in small batches, yielding between them, then shrinks the files. */
  async rebalance(): Promise<void> {
    await yieldToEventLoop()
    try {
      if (this.#host.budget.dataAbove(HIGH_WATERMARK)) {
        // Measured again before every batch: an estimate made once evicted by row sizes, not by what pages freed.
        for (let excess = this.#excessData(); !this.#host.writer.closed && excess > 0; excess = this.#excessData()) {
          if (this.#evictBatch(excess) === 0) break
          await yieldToEventLoop()
        }
      }
      // Free pages inside the budget are reused by the next writes: hand them back to the filesystem only when
      // the files near the hard limit. Vacuuming at the high mark churned (shrink, regrow, shrink: a fifth of the
      // main thread in the soak).
      if (!this.#host.writer.closed && this.#host.budget.diskAbove(HARD_WATERMARK)) {
        // Step by step while it makes progress (on a full disk it may not).
        for (
          let free = this.#host.budget.freePages(), before = Infinity;
          !this.#host.writer.closed && free > 0 && free < before;
          before = free, free = this.#host.budget.freePages()
        ) {
          this.#host.db.exec(`PRAGMA incremental_vacuum(${VACUUM_STEP_PAGES})`)
          await yieldToEventLoop()
        }
        if (!this.#host.writer.closed) this.#host.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      }
      if (!this.#host.writer.closed) this.#host.budget.measure()
    } catch (error) {
      // Busy or full: the next write or maintenance pass tries again.
      this.#host.events.maintenanceFailed?.(error)
    }
  }

  /** Cached data above the low watermark: what eviction still has to free. */
  #excessData(): number {
    return this.#host.budget.dataBytes() - this.#host.budget.maxBytes * LOW_WATERMARK
  }
}
