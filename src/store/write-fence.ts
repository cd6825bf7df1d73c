// Keeps purges behind the writes issued before them, where a write takes more than one step to land.

/**
 * A write of a large value (file first, row after) or a tiered write (shared tier first, local copy after) can still
 * be landing when a purge issued after it runs; without the fence the purge misses it and the value survives.
 */
export class WriteFence {
  readonly #pending = new Set<Promise<unknown>>()

  track<T>(write: Promise<T>): Promise<T> {
    this.#pending.add(write)
    const settled = () => {
      this.#pending.delete(write)
    }
    write.then(settled, settled)
    return write
  }

  /** Settles once every write tracked so far has settled (at once when none is in flight). */
  async passed(): Promise<void> {
    if (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
  }
}
