// Collapses concurrent work on one key into a single call whose result every caller shares.

export class SingleFlight<T> {
  readonly #inFlight = new Map<string, Promise<T>>()

  /** Runs `work` unless a call for `key` is in flight, in which case its promise is shared; `joined` says which. */
  run(key: string, work: () => Promise<T>): { promise: Promise<T>; joined: boolean } {
    const existing = this.#inFlight.get(key)
    if (existing) return { promise: existing, joined: true }
    const promise = work().finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, promise)
    return { promise, joined: false }
  }

  /** The promise of the call in flight for `key`, if there is one. */
  inFlight(key: string): Promise<T> | undefined {
    return this.#inFlight.get(key)
  }
}
