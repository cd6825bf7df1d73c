// A map bounded by the bytes of its values, that drops the least recently used first. Every operation is O(1): a
// doubly linked list keeps recency order. (A Map alone keeps insertion order, but taking its oldest entry walks over
// every entry deleted since V8 last rehashed it: with 16,000 entries churning, 5.6 µs per miss instead of 0.4.)

interface Node<V> {
  readonly key: string
  value: V
  size: number
  older: Node<V> | undefined
  newer: Node<V> | undefined
}

export class ByteLru<V> {
  readonly #maxBytes: number
  readonly #nodes = new Map<string, Node<V>>()
  #oldest: Node<V> | undefined
  #newest: Node<V> | undefined
  #bytes = 0

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  get size(): number {
    return this.#nodes.size
  }

  get bytes(): number {
    return this.#bytes
  }

  /** The value under `key`, which becomes the most recently used. */
  get(key: string): V | undefined {
    const node = this.#nodes.get(key)
    if (!node) return undefined
    this.#unlink(node)
    this.#append(node)
    return node.value
  }

  /** The value under `key`, leaving recency as it was. */
  peek(key: string): V | undefined {
    return this.#nodes.get(key)?.value
  }

  /** The least recently used value: the first to leave when room is needed. */
  oldest(): V | undefined {
    return this.#oldest?.value
  }

  /**
   * Stores `value` as the most recently used, then drops the least recently used others until the bytes fit.
   * Calls `onEvict` for each value dropped to make room (not for the one replaced under the same key). The value
   * just stored is never dropped, even if it alone exceeds the bound: callers that must not hold one check first.
   */
  set(key: string, value: V, size: number, onEvict?: (key: string, value: V) => void): void {
    this.delete(key)
    const node: Node<V> = { key, value, size, older: undefined, newer: undefined }
    this.#nodes.set(key, node)
    this.#append(node)
    this.#bytes += size
    while (this.#bytes > this.#maxBytes && this.#oldest !== node) {
      const oldest = this.#oldest!
      this.delete(oldest.key)
      onEvict?.(oldest.key, oldest.value)
    }
  }

  delete(key: string): V | undefined {
    const node = this.#nodes.get(key)
    if (!node) return undefined
    this.#nodes.delete(key)
    this.#unlink(node)
    this.#bytes -= node.size
    return node.value
  }

  clear(): void {
    this.#nodes.clear()
    this.#oldest = this.#newest = undefined
    this.#bytes = 0
  }

  /** Entries from least to most recently used; deleting the current entry while iterating is safe. */
  *entries(): IterableIterator<[string, V]> {
    for (let node = this.#oldest; node; ) {
      const newer = node.newer
      if (this.#nodes.get(node.key) === node) yield [node.key, node.value]
      node = newer
    }
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value
  }

  #append(node: Node<V>): void {
    node.older = this.#newest
    node.newer = undefined
    if (this.#newest) this.#newest.newer = node
    else this.#oldest = node
    this.#newest = node
  }

  #unlink(node: Node<V>): void {
    if (node.older) node.older.newer = node.newer
    else this.#oldest = node.newer
    if (node.newer) node.newer.older = node.older
    else this.#newest = node.older
    node.older = node.newer = undefined
  }
}
