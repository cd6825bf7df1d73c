// Buffers last-access times in memory and writes them in batches, so a read never costs a write.

const FLUSH_AT_SIZE = 10_000

export class AccessTimes {
  readonly #pending = new Map<number, number>()
  readonly #write: (touched: ReadonlyMap<number, number>) => void

  constructor(write: (touched: ReadonlyMap<number, number>) => void) {
    this.#write = write
  }

  touch(id: number, at: number): void {
    this.#pending.set(id, at)
    if (this.#pending.size < FLUSH_AT_SIZE) return
    try {
      this.flush()
    } catch {
      // A locked or full database: keep the times, the next maintenance pass writes them.
    }
  }

  forget(id: number): void {
    this.#pending.delete(id)
  }

  /** Persists the buffered times (LRU eviction reads them from the table); keeps them if the write fails. */
  flush(): void {
    if (this.#pending.size === 0) return
    this.#write(this.#pending)
    this.#pending.clear()
  }
}
