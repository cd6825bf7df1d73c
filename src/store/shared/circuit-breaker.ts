// Stops calling a server that keeps failing: after a few failures in a row every call fails at once for a while,
// instead of each waiting out its own timeout. The first call after that while is a probe: if it fails, the circuit
// opens again for twice as long (up to a cap); if it succeeds, everything is as before.

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failuresToOpen: number
  /** How long the circuit first stays open; doubled at each failed probe. */
  readonly firstOpenMs: number
  readonly maxOpenMs: number
  readonly now?: () => number
}

export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions
  readonly #now: () => number
  #failures = 0
  #openUntil = 0
  /** Times opened since the last success: sets the next open period. */
  #opened = 0

  constructor(options: CircuitBreakerOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** True while calls must fail at once. */
  get open(): boolean {
    return this.#now() < this.#openUntil
  }

  /** Milliseconds until the next probe may run; 0 when closed. */
  get openForMs(): number {
    return Math.max(0, this.#openUntil - this.#now())
  }

  /** A call succeeded. True if that closed a circuit that had opened (a probe that came through). */
  succeeded(): boolean {
    const wasOpened = this.#openUntil > 0
    this.#failures = 0
    this.#opened = 0
    this.#openUntil = 0
    return wasOpened
  }

  /**
   * A call failed. True if that opened the circuit from closed; a failed probe reopens it at once, for twice as long,
   * and returns false (it was already reported open).
   */
  failed(): boolean {
    const probing = this.#openUntil > 0
    if (!probing && ++this.#failures < this.#options.failuresToOpen) return false
    this.#openUntil = this.#now() + Math.min(this.#options.maxOpenMs, this.#options.firstOpenMs * 2 ** this.#opened++)
    this.#failures = 0
    return !probing
  }

  /** A fresh connection: the next call is attempted whatever happened before. */
  reset(): void {
    this.#openUntil = 0
  }
}
