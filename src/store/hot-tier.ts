// A bounded in-memory tier of recently read entries in front of any Store: hot reads skip SQLite and reuse
// one buffer instead of allocating a fresh copy per response (measured: GET 64 KiB was 3x bare Hono's cost).
// A value enters on its second read (a doorkeeper, as in TinyLFU): keys read once (a crawler, a batch job, random
// reads over millions of keys) never push the hot ones out, and values read once die young instead of ageing into
// V8's old space while they wait to be evicted. Random GETs over 300,000 keys, none read twice: 8.0-8.3k req/s when
// every read was admitted, 8.5-10.1k with the doorkeeper (bench/RESULTS.md). Once the tier is full, a newcomer
// enters only if it was read more often lately than the entry it would push out (TinyLFU's admission): a loop over
// a few more keys than fit keeps most of them in memory, where LRU alone kept none (every read went to SQLite).
import { hash } from 'node:crypto'
import { fnv1a } from './keys.ts'
import { FrequencySketch } from './frequency-sketch.ts'
import { ByteLru } from './lru.ts'
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
  StoreStats,
  SweepResult,
  UpdateResult,
} from './types.ts'

export interface HotTierOptions {
  /** Sum of value sizes kept in memory; least recently read entries leave first. */
  readonly maxBytes: number
  /** Larger values are always read from the inner store. */
  readonly maxEntryBytes: number
  /**
   * Namespaces whose keys are secrets (session IDs): held under the SHA-256 of the key, so the map's string
   * compares run on digests an attacker cannot steer, never on the secret itself.
   */
  readonly secretKeys?: ReadonlySet<string>
  readonly now?: () => number
}

const SEPARATOR = '\u0000'

/** An entry held in memory, with the hash its reads are counted under (hits then count without hashing the key). */
interface Held {
  readonly entry: Entry
  readonly hash: number
}

export class HotTier implements Store {
  readonly #inner: Store
  readonly #options: HotTierOptions
  readonly #now: () => number
  readonly #entries: ByteLru<Held>
  readonly #readOnce: ReadOnce
  readonly #reads: FrequencySketch
  /**
   * Bumped by every write. A read fills the tier only if no write happened while it ran, so a value read
   * just before a concurrent write can never be cached after it.
   */
  #generation = 0

  constructor(inner: Store, options: HotTierOptions) {
    this.#inner = inner
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#entries = new ByteLru(options.maxBytes)
    this.#readOnce = new ReadOnce(options.maxBytes / 1024)
    this.#reads = new FrequencySketch(options.maxBytes / 1024)
  }

  /** A live entry held in memory, read as get() reads it; undefined when get() must ask the store below. */
  peek(namespace: string, key: string): Entry | undefined {
    const id = this.#id(namespace, key)
    const held = this.#entries.get(id)
    if (!held) return undefined
    const hot = held.entry
    if (hot.expiresAt > this.#now()) {
      this.#reads.increment(held.hash, this.#entries.size)
      // The store below never saw this read: without a word, a key hot here was the first evicted there.
      this.#inner.noteRead?.(namespace, key)
      return hot
    }
    this.#entries.delete(id)
    return undefined
  }

  async get(namespace: string, key: string): Promise<Entry | undefined> {
    const hot = this.peek(namespace, key)
    if (hot) return hot
    const id = this.#id(namespace, key)
    const generation = this.#generation
    const entry = await this.#inner.get(namespace, key)
    if (entry && generation === this.#generation) this.#add(id, entry)
    return entry
  }

  // Writes forget the key before the inner write and again once it settled: the inner store may commit later
  // (group commit), and a read between the two could otherwise cache the value being replaced.

  set(input: SetInput, precondition?: Precondition): Promise<SetResult> {
    return this.#around(
      () => this.#forget(input.namespace, input.key),
      () => this.#inner.set(input, precondition),
    )
  }

  setMany(inputs: readonly SetInput[]): Promise<{ etag: string; expiresAt: number }[]> {
    return this.#around(
      () => {
        for (const input of inputs) this.#forget(input.namespace, input.key)
      },
      () => this.#inner.setMany(inputs),
    )
  }

  delete(namespace: string, key: string, precondition?: Precondition): Promise<DeleteResult> {
    return this.#around(
      () => this.#forget(namespace, key),
      () => this.#inner.delete(namespace, key, precondition),
    )
  }

  deletePrefix(namespace: string, prefix: string): Promise<number> {
    const matches = (entry: Entry) => entry.namespace === namespace && entry.key.startsWith(prefix)
    return this.#around(
      () => this.#forgetWhere(matches),
      () => this.#inner.deletePrefix(namespace, prefix),
    )
  }

  deleteTags(tags: readonly string[]): Promise<number> {
    const wanted = new Set(tags)
    const matches = (entry: Entry) => entry.tags.some((tag) => wanted.has(tag))
    return this.#around(
      () => this.#forgetWhere(matches),
      () => this.#inner.deleteTags(tags),
    )
  }

  update(
    namespace: string,
    key: string,
    mutate: (current: Entry) => Omit<SetInput, 'namespace' | 'key'> | undefined,
    precondition?: Precondition,
  ): Promise<UpdateResult> {
    return this.#around(
      () => this.#forget(namespace, key),
      () => this.#inner.update(namespace, key, mutate, precondition),
    )
  }

  rename(namespace: string, from: string, to: string): Promise<boolean> {
    return this.#around(
      () => {
        this.#forget(namespace, from)
        this.#forget(namespace, to)
      },
      () => this.#inner.rename(namespace, from, to),
    )
  }

  incr(namespace: string, key: string, by: number, ttlMs: number): Promise<IncrResult> {
    return this.#around(
      () => this.#forget(namespace, key),
      () => this.#inner.incr(namespace, key, by, ttlMs),
    )
  }

  async #around<T>(forget: () => void, write: () => Promise<T>): Promise<T> {
    forget()
    try {
      return await write()
    } finally {
      forget()
    }
  }

  list(namespace: string, options: ListOptions): Promise<EntryInfo[]> {
    return this.#inner.list(namespace, options)
  }

  sweepExpired(batch: number): Promise<SweepResult> {
    return this.#inner.sweepExpired(batch)
  }

  maintain(): Promise<void> {
    const now = this.#now()
    for (const [id, { entry }] of this.#entries.entries()) if (entry.expiresAt <= now) this.#entries.delete(id)
    return this.#inner.maintain()
  }

  stats(): Promise<StoreStats> {
    return this.#inner.stats()
  }

  ping(): Promise<void> {
    return this.#inner.ping()
  }

  close(): Promise<void> {
    this.#entries.clear()
    return this.#inner.close()
  }

  #add(id: string, entry: Entry): void {
    if (entry.size > this.#options.maxEntryBytes || entry.size > this.#options.maxBytes) return
    const hash = fnv1a(id)
    this.#reads.increment(hash, this.#entries.size)
    if (this.#readOnce.firstRead(hash)) return
    // Full: the newcomer must have been read more often lately than the entry it would push out first.
    const victim = this.#entries.bytes + entry.size > this.#options.maxBytes ? this.#entries.oldest() : undefined
    if (victim && this.#reads.estimate(hash) <= this.#reads.estimate(victim.hash)) return
    this.#entries.set(id, { entry, hash }, entry.size)
  }

  #forget(namespace: string, key: string): void {
    this.#generation++
    this.#entries.delete(this.#id(namespace, key))
  }

  #id(namespace: string, key: string): string {
    const secret = this.#options.secretKeys?.has(namespace)
    // One-shot hash(): a third of createHash's cost, and a session read pays it every time.
    return namespace + SEPARATOR + (secret ? hash('sha256', key, 'base64') : key)
  }

  #forgetWhere(predicate: (entry: Entry) => boolean): void {
    this.#generation++
    for (const [id, { entry }] of this.#entries.entries()) if (predicate(entry)) this.#entries.delete(id)
  }
}

/**
 * Which ids were read recently, as a Bloom filter (two bits an id) cleared after a set number of reads, so it ages:
 * a key read twice between clears is admitted. False positives admit a key on its first read now and then, which is
 * harmless; no key can be starved, as it could in a table of one hash per slot, where two keys sharing a slot and
 * read in turn overwrite each other forever (measured: 7 % of 10,000 keys read in a cycle were never admitted).
 */
class ReadOnce {
  readonly #bits: Uint32Array
  readonly #shift: number
  readonly #readsPerClear: number
  #reads = 0

  /** Sized for `values` small values in the tier: up to four times as many distinct reads between clears. */
  constructor(values: number) {
    let log2 = 13
    while (log2 < 24 && 2 ** log2 < values * 4 * 16) log2++
    this.#bits = new Uint32Array(2 ** log2 / 32)
    this.#shift = 32 - log2
    // 16 bits per read between clears, two bits each: about 1 % false positives just before a clear.
    this.#readsPerClear = 2 ** log2 / 16
  }

  /** True the first time the id hashed to `hash` is read since the last clear (and notes it); false once it was. */
  firstRead(hash: number): boolean {
    const first = this.#mark(Math.imul(hash, 0x9e3779b1) >>> this.#shift)
    const second = this.#mark(Math.imul(hash ^ 0x5bd1e995, 0x85ebca6b) >>> this.#shift)
    if (!first && !second) return false
    if (++this.#reads >= this.#readsPerClear) {
      this.#bits.fill(0)
      this.#reads = 0
    }
    return true
  }

  /** Sets one bit; true if it was not set before. */
  #mark(bit: number): boolean {
    const word = bit >>> 5
    const mask = 1 << (bit & 31)
    const was = this.#bits[word]!
    this.#bits[word] = was | mask
    return (was & mask) === 0
  }
}
