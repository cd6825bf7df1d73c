// A Store in a Map, with the same contract as SqliteStore: proves the interface and can serve as a hot tier.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { entryWritten, prefixUpperBound } from './keys.ts'
import { ByteLru } from './lru.ts'
import { addToCounter, preconditionHolds } from './precondition.ts'
import type {
  DeleteResult,
  Entry,
  EntryInfo,
  IncrResult,
  ListOptions,
  Precondition,
  SetInput,
  SetResult,
  Store,
  StoreEvents,
  StoreStats,
  SweepResult,
  UpdateResult,
} from './types.ts'

export interface MemoryStoreOptions {
  /** Sum of value sizes at which least recently used entries are evicted. */
  readonly maxBytes: number
  readonly now?: () => number
  readonly events?: StoreEvents
}

const SEPARATOR = '\u0000'

export class MemoryStore implements Store {
  readonly #entries: ByteLru<Entry>
  readonly #now: () => number
  readonly #events: StoreEvents

  constructor(options: MemoryStoreOptions) {
    this.#entries = new ByteLru(options.maxBytes)
    this.#now = options.now ?? Date.now
    this.#events = options.events ?? {}
  }

  peek(namespace: string, key: string): Entry | undefined {
    return this.#getLive(namespace, key)
  }

  async get(namespace: string, key: string): Promise<Entry | undefined> {
    return this.#getLive(namespace, key)
  }

  async getMany(namespace: string, keys: readonly string[]): Promise<(Entry | undefined)[]> {
    return keys.map((key) => this.#getLive(namespace, key))
  }

  async set(input: SetInput, precondition?: Precondition): Promise<SetResult> {
    const current = this.#peekLive(input.namespace, input.key)
    if (!preconditionHolds(precondition, current?.etag)) return { status: 'precondition-failed' }
    const { etag, expiresAt } = this.#put(input)
    return { status: current ? 'replaced' : 'created', etag, expiresAt }
  }

  async setMany(inputs: readonly SetInput[]): Promise<{ etag: string; expiresAt: number }[]> {
    return inputs.map((input) => this.#put(input))
  }

  async delete(namespace: string, key: string, precondition?: Precondition): Promise<DeleteResult> {
    const current = this.#peekLive(namespace, key)
    if (!preconditionHolds(precondition, current?.etag)) return 'precondition-failed'
    if (!current) return 'not-found'
    this.#remove(mapKey(namespace, key))
    return 'deleted'
  }

  async deletePrefix(namespace: string, prefix: string): Promise<number> {
    return this.#removeWhere((entry) => entry.namespace === namespace && entry.key.startsWith(prefix))
  }

  async deleteTags(tags: readonly string[]): Promise<number> {
    const wanted = new Set(tags)
    return this.#removeWhere((entry) => entry.tags.some((tag) => wanted.has(tag)))
  }

  async update(
    namespace: string,
    key: string,
    mutate: (current: Entry) => Omit<SetInput, 'namespace' | 'key'> | undefined,
    precondition?: Precondition,
  ): Promise<UpdateResult> {
    const current = this.#peekLive(namespace, key)
    if (!current) return { status: 'not-found' }
    if (!preconditionHolds(precondition, current.etag)) return { status: 'precondition-failed' }
    const next = mutate(current)
    if (!next) return { status: 'unchanged', entry: current }
    this.#put({ ...next, namespace, key })
    return { status: 'updated', entry: this.#peekLive(namespace, key)! }
  }

  async rename(namespace: string, from: string, to: string): Promise<boolean> {
    const entry = this.#peekLive(namespace, from)
    if (!entry || this.#peekLive(namespace, to)) return false
    this.#remove(mapKey(namespace, from))
    this.#store({ ...entry, key: to })
    return true
  }

  async incr(namespace: string, key: string, by: number, ttlMs: number): Promise<IncrResult> {
    const current = this.#peekLive(namespace, key)
    if (!current) {
      const written = this.#put({ namespace, key, value: Buffer.from(String(by)), contentType: 'text/plain', ttlMs })
      return { status: 'ok', value: by, ...written }
    }
    const sum = addToCounter(current.value, by)
    if (sum.status !== 'ok') return sum
    this.#store({ ...current, value: sum.bytes, etag: sum.etag, size: sum.bytes.byteLength })
    return { status: 'ok', value: sum.next, etag: sum.etag, expiresAt: current.expiresAt }
  }

  async list(namespace: string, options: ListOptions): Promise<EntryInfo[]> {
    const now = this.#now()
    const upper = prefixUpperBound(options.prefix)
    const after = options.after ?? ''
    const keys: EntryInfo[] = []
    for (const entry of this.#entries.values()) {
      if (entry.namespace !== namespace || entry.expiresAt <= now || entry.key <= after) continue
      if (entry.key < options.prefix || (upper !== undefined && entry.key >= upper)) continue
      const { value: _value, ...info } = entry
      keys.push(info)
    }
    return keys.sort((a, b) => (a.key < b.key ? -1 : 1)).slice(0, options.limit)
  }

  async sweepExpired(batch: number): Promise<SweepResult> {
    const now = this.#now()
    let removed = 0
    for (const [id, entry] of this.#entries.entries()) {
      if (removed === batch) return { removed, more: true }
      if (entry.expiresAt <= now) {
        this.#remove(id)
        removed++
      }
    }
    return { removed, more: false }
  }

  async maintain(): Promise<void> {}

  async stats(): Promise<StoreStats> {
    return { entries: this.#entries.size, bytes: this.#entries.bytes }
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear()
  }

  #peekLive(namespace: string, key: string): Entry | undefined {
    const entry = this.#entries.peek(mapKey(namespace, key))
    return entry && entry.expiresAt > this.#now() ? entry : undefined
  }

  #getLive(namespace: string, key: string): Entry | undefined {
    const entry = this.#peekLive(namespace, key)
    if (entry) this.#entries.get(mapKey(namespace, key)) // most recently used
    return entry
  }

  #put(input: SetInput): { etag: string; expiresAt: number } {
    const entry = entryWritten(input, this.#now())
    this.#store(entry)
    return { etag: entry.etag, expiresAt: entry.expiresAt }
  }

  #store(entry: Entry): void {
    this.#entries.set(mapKey(entry.namespace, entry.key), entry, entry.size, () => this.#events.evicted?.('lru', 1))
  }

  #remove(id: string): void {
    this.#entries.delete(id)
  }

  async #removeWhere(predicate: (entry: Entry) => boolean): Promise<number> {
    let removed = 0
    for (const [id, entry] of this.#entries.entries()) {
      if (entry.expiresAt <= this.#now() || !predicate(entry)) continue
      this.#remove(id)
      removed++
    }
    await yieldToEventLoop()
    return removed
  }
}

function mapKey(namespace: string, key: string): string {
  return namespace + SEPARATOR + key
}
