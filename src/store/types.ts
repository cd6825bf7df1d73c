// The storage interface the HTTP layer talks to; SQLite implements it today, a shared tier can later.

export interface Entry {
  readonly namespace: string
  readonly key: string
  readonly value: Uint8Array
  readonly contentType: string
  /** Strong entity tag, quotes included, derived from the value's bytes. */
  readonly etag: string
  readonly tags: readonly string[]
  /** When the value was last written (epoch ms): set by every write, kept by reads. */
  readonly writtenAt: number
  /** Epoch milliseconds. */
  readonly expiresAt: number
  readonly size: number
  /**
   * How a tiered store found it when not in this task: in the shared tier, or by waiting for another task's fetch
   * (cross-task coalescing). Absent for local reads. Cache-Status reports it.
   */
  readonly source?: 'shared' | 'collapsed'
}

/** What a listing shows for one key: everything but the value. */
export type EntryInfo = Omit<Entry, 'value'>

export interface SetInput {
  readonly namespace: string
  readonly key: string
  readonly value: Uint8Array
  readonly contentType: string
  readonly ttlMs: number
  readonly tags?: readonly string[]
  /**
   * When (epoch ms, by the store's clock) the value began to be fetched from its source. A store shared between
   * processes refuses the write with OvertakenByPurgeError if a purge reaching it was noted (notePurge) since then.
   */
  readonly unlessPurgedSince?: number
}

/** What one purge reaches: a key, the keys of a namespace starting with a prefix, or the entries carrying tags. */
export type PurgeScope =
  | { readonly namespace: string; readonly key: string }
  | { readonly namespace: string; readonly prefix: string }
  | { readonly tags: readonly string[] }

/** Preconditions for a write or delete (RFC 9110 §13.1). */
export interface Precondition {
  /** The write applies only if the current entry's ETag is one of these ('*' = any existing entry). */
  readonly ifMatch?: readonly string[]
  /** '*' : the write applies only if no live entry exists. */
  readonly ifNoneMatchAny?: boolean
}

export type SetResult =
  | { readonly status: 'created' | 'replaced'; readonly etag: string; readonly expiresAt: number }
  | { readonly status: 'precondition-failed' }

export type UpdateResult =
  | { readonly status: 'updated'; readonly entry: Entry }
  | { readonly status: 'unchanged'; readonly entry: Entry }
  | { readonly status: 'not-found' | 'precondition-failed' }

export type DeleteResult = 'deleted' | 'not-found' | 'precondition-failed'

export type IncrResult =
  | { readonly status: 'ok'; readonly value: number; readonly etag: string; readonly expiresAt: number }
  | { readonly status: 'not-a-counter' | 'overflow' }

export interface ListOptions {
  readonly prefix: string
  readonly limit: number
  /** List keys strictly after this one. */
  readonly after?: string
}

export interface StoreStats {
  readonly entries: number
  /** Bytes the store occupies (for SQLite: database + WAL + shm + value files). */
  readonly bytes: number
  /** Bytes the entries use (SQLite: pages in use and value files; free pages and the WAL do not count). */
  readonly dataBytes?: number
  /** Bytes of the write-ahead log, part of `bytes` (SQLite only). */
  readonly walBytes?: number
}

/** Counts what maintenance removed, for metrics. */
export interface SweepResult {
  readonly removed: number
  /** True when more expired rows remain. */
  readonly more: boolean
}

export interface Store {
  get(namespace: string, key: string): Promise<Entry | undefined>
  /**
   * Optional: the live entry when this store holds it in memory and can answer at once, without waiting (the hot
   * paths answer such reads synchronously). Undefined says nothing about the key: ask get().
   */
  peek?(namespace: string, key: string): Entry | undefined
  /** Optional: a batched read of several keys; `readMany` falls back to one `get` per key. */
  getMany?(namespace: string, keys: readonly string[]): Promise<(Entry | undefined)[]>
  set(input: SetInput, precondition?: Precondition): Promise<SetResult>
  /** All writes in one transaction: either every one lands or none does. */
  setMany(inputs: readonly SetInput[]): Promise<{ etag: string; expiresAt: number }[]>
  delete(namespace: string, key: string, precondition?: Precondition): Promise<DeleteResult>
  deletePrefix(namespace: string, prefix: string): Promise<number>
  deleteTags(tags: readonly string[]): Promise<number>
  /**
   * Atomic read-modify-write of a live entry: `mutate` sees the current entry inside the write and returns its
   * replacement (value, content type, TTL, tags) or undefined to leave it. 'not-found' when there is no live entry.
   */
  update(
    namespace: string,
    key: string,
    mutate: (current: Entry) => Omit<SetInput, 'namespace' | 'key'> | undefined,
    precondition?: Precondition,
  ): Promise<UpdateResult>
  /** Moves a live entry to a new key atomically (value, tags and expiry kept); false if there was none or `to` exists. */
  rename(namespace: string, from: string, to: string): Promise<boolean>
  /** Adds `by` to a decimal counter, creating it with `ttlMs` if absent; an existing counter keeps its expiry. */
  incr(namespace: string, key: string, by: number, ttlMs: number): Promise<IncrResult>
  list(namespace: string, options: ListOptions): Promise<EntryInfo[]>
  /** Deletes up to `batch` expired entries. */
  sweepExpired(batch: number): Promise<SweepResult>
  /** Periodic upkeep: persist access times, enforce the byte budget. */
  maintain(): Promise<void>
  stats(): Promise<StoreStats>
  /** Optional: a read of (namespace, key) was answered in front of this store (a hot-tier hit); it counts for eviction. */
  noteRead?(namespace: string, key: string): void
  /**
   * Optional: the caller that missed `key` will not write it after all, so a coalescing lock its read took can go at
   * once instead of making other tasks wait it out. `uncacheable` (the answer may not be stored, whoever asks) also
   * tells other tasks not to wait on this key for a while; `not-stored` (a failed fetch or write, an upstream error,
   * or a reason particular to this request) only releases the lock.
   */
  abandon?(namespace: string, key: string, reason: AbandonReason): Promise<void>
  /**
   * Optional: a purge of `scope` is about to run. Stores shared between processes remember it for a while, so a value
   * fetched before it and written after it (by any process) is refused instead of outliving the purge.
   */
  notePurge?(scope: PurgeScope): Promise<void>
  /** Proves the store can read and write (for /readyz). */
  ping(): Promise<void>
  close(): Promise<void>
}

/** Reads `keys` in order: the store's own batched read when it has one, else one `get` per key. */
export function readMany(store: Store, namespace: string, keys: readonly string[]): Promise<(Entry | undefined)[]> {
  if (store.getMany) return store.getMany(namespace, keys)
  return Promise.all(keys.map((key) => store.get(namespace, key)))
}

/** Thrown when the disk is full and eviction could not make room: HTTP 507. */
export class StoreFullError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreFullError'
  }
}

/** Thrown by a write whose value was fetched before a purge that reaches it (SetInput.unlessPurgedSince). */
export class OvertakenByPurgeError extends Error {
  constructor(message = 'a purge arrived while the value was being fetched') {
    super(message)
    this.name = 'OvertakenByPurgeError'
  }
}

/** Thrown when another connection held the database lock through every retry: HTTP 503. */
export class StoreBusyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreBusyError'
  }
}

/** The shared tier is down, open-circuited or failed this call. */
export class SharedTierUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SharedTierUnavailableError'
  }
}

/** Events a store reports for metrics and logs. */
export interface StoreEvents {
  evicted?(reason: 'expired' | 'lru', rows: number): void
  busyRetry?(): void
  /** Background eviction or vacuum failed; it is retried on the next pass. */
  maintenanceFailed?(error: unknown): void
}

export type AbandonReason = 'uncacheable' | 'not-stored'
