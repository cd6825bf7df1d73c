// The purges made while responses were being fetched, so a response fetched before a purge is never stored after it.

/** Whether a purge reaches the response stored for `key` of `upstream`, carrying `surrogateKeys`. */
export type PurgeMatch = (upstream: string, key: string, surrogateKeys: readonly string[]) => boolean

/**
 * Purges can arrive while a matching response is still streaming from the upstream; storing that response when it
 * ends would bring back what the purge removed, for its whole lifetime. Every fill notes the log's position when it
 * began (`position()`), and at commit asks whether a purge since then reached it (`overtaken()`). The log keeps the
 * last `capacity` purges: a fill older than the oldest one kept counts as overtaken, so memory stays bounded whatever
 * the purge rate and however long a fill takes.
 */
export class PurgeLog {
  readonly #capacity: number
  readonly #purges: { readonly seq: number; readonly matches: PurgeMatch }[] = []
  #seq = 0
  /** Fills that began before this position may have missed a purge no longer kept. */
  #floor = 0

  constructor(capacity = 4096) {
    this.#capacity = capacity
  }

  position(): number {
    return this.#seq
  }

  record(matches: PurgeMatch): void {
    this.#purges.push({ seq: ++this.#seq, matches })
    if (this.#purges.length > this.#capacity) this.#floor = this.#purges.shift()!.seq
  }

  /** True when a purge recorded after `since` reaches this response (or may have, when it is no longer kept). */
  overtaken(since: number, upstream: string, key: string, surrogateKeys: readonly string[]): boolean {
    if (since < this.#floor) return true
    for (let i = this.#purges.length - 1; i >= 0 && this.#purges[i]!.seq > since; i--) {
      if (this.#purges[i]!.matches(upstream, key, surrogateKeys)) return true
    }
    return false
  }
}
