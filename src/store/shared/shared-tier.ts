// The shared tier on Valkey/Redis (ioredis): entries as hashes with the engine's own TTLs, compare-and-set writes in
// Lua, tag sets for purges, an invalidation channel, and a circuit breaker so an unhealthy server costs nothing.
import type { Redis } from 'ioredis'
import {
  SharedTierUnavailableError,
  type Entry,
  type EntryInfo,
  type IncrResult,
  type ListOptions,
  type PurgeScope,
} from '../types.ts'
import { CircuitBreaker } from './circuit-breaker.ts'
import { type ConnectionOptions, createConnections } from './connection.ts'
import { EngineKeys, entryFrom, globEscape, invalidationFrom, tagField, type Invalidation } from './codec.ts'
import { PASS_MARK, type Client, type LockState } from './scripts.ts'

export interface SharedTierOptions extends ConnectionOptions {
  /** Prepended to every key and the channel, so services can share one engine. */
  readonly prefix: string
  /** Identifies this process on the invalidation channel, so it skips its own messages. */
  readonly instanceId: string
  /** Namespaces whose keys are secrets (session IDs): kept in the engine under their SHA-256. */
  readonly secretKeys?: ReadonlySet<string>
  readonly onStateChange?: (up: boolean, reason: string) => void
  readonly onInvalidation?: (message: Invalidation) => void
  readonly onError?: (operation: string, error: Error) => void
}

/** Sentinel for `write`: the key must not hold a live entry. */
export const ABSENT = '-'

/**
 * How long purge notes are kept: a fill that began longer ago than this is refused outright (its purges may be
 * forgotten). Far beyond any fill a body timeout lets live; the notes are a few bytes per purged key, prefix or tag.
 */
const PURGE_MEMORY_MS = 10 * 60_000

/** Consecutive failures that open the circuit; while open, calls fail at once instead of waiting out a timeout. */
const FAILURES_TO_OPEN = 3

export class SharedTier {
  readonly #options: SharedTierOptions
  readonly #client: Client
  readonly #subscriber: Redis
  readonly #keys: EngineKeys
  #connected = false
  readonly #circuit = new CircuitBreaker({ failuresToOpen: FAILURES_TO_OPEN, firstOpenMs: 250, maxOpenMs: 30_000 })
  #closed = false

  constructor(options: SharedTierOptions) {
    this.#options = options
    this.#keys = new EngineKeys(options.prefix, options.secretKeys)
    const { client, subscriber } = createConnections(options)
    this.#client = client
    this.#subscriber = subscriber
    this.#client.on('ready', () => this.#setConnected(true, 'connected'))
    this.#client.on('close', () => this.#setConnected(false, 'connection closed'))
    // ioredis emits 'error' on every failed (re)connect; without a listener it would crash the process.
    this.#client.on('error', (error: Error) => this.#options.onError?.('connection', error))
    this.#subscriber.on('error', (error: Error) => this.#options.onError?.('subscriber', error))
    this.#subscriber.on('message', (channel: string, message: string) => this.#received(channel, message))
    this.#subscriber.on('ready', () => {
      this.#subscriber
        .subscribe(this.#keys.channel)
        .catch((error: Error) => this.#options.onError?.('subscribe', error))
    })
    this.#client.connect().catch(() => {}) // reported through 'error'; reconnects by retryStrategy
    this.#subscriber.connect().catch(() => {}) // likewise
  }

  /** Connected and the circuit closed: calls are attempted. */
  get up(): boolean {
    return this.#connected && !this.#circuit.open
  }

  get state(): { up: boolean; connected: boolean; circuitOpenMs: number } {
    return { up: this.up, connected: this.#connected, circuitOpenMs: this.#circuit.openForMs }
  }

  /** Resolves once connected, or after `timeoutMs` (false): starting never waits longer for the shared tier. */
  async waitUntilUp(timeoutMs: number): Promise<boolean> {
    if (this.#connected) return true
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#client.off('ready', onReady)
        resolve(false)
      }, timeoutMs)
      const onReady = () => {
        clearTimeout(timer)
        resolve(true)
      }
      this.#client.once('ready', onReady)
    })
  }

  async read(namespace: string, key: string, now: number): Promise<Entry | undefined> {
    const fields = await this.#call('read', (c) => c.hgetallBuffer(this.#keys.entry(namespace, key)))
    return entryFrom(namespace, key, fields, now)
  }

  /**
   * Writes `entry` (expiry = entry.expiresAt); with `expected`, only if the current etag is that one or ABSENT holds.
   * Says whether it wrote, and whether a live entry was there before.
   */
  async write(
    entry: Entry,
    expected: string,
    now: number,
    since = 0,
  ): Promise<'created' | 'replaced' | 'not-written' | 'overtaken'> {
    const written = await this.#call('write', (c) => c.cachecarWrite(...this.#writeArgs(entry, expected, now, since)))
    return written === 2 ? 'replaced' : written === 1 ? 'created' : written === -2 ? 'overtaken' : 'not-written'
  }

  /**
   * Unconditional writes in one MULTI: all land or none does, except entries a purge overtook (`since` > 0), which
   * are skipped; their keys are returned.
   */
  async writeAll(entries: readonly Entry[], now: number, since = 0): Promise<string[]> {
    return await this.#call('write', async (c) => {
      const multi = c.multi() as unknown as {
        cachecarWrite(...args: unknown[]): void
        exec(): Promise<[Error | null, unknown][] | null>
      }
      for (const entry of entries) multi.cachecarWrite(...this.#writeArgs(entry, '', now, since))
      const results = await multi.exec()
      const failed = results?.find(([error]) => error)
      if (!results || failed) throw failed?.[0] ?? new Error('MULTI aborted')
      return entries.filter((_, i) => results[i]![1] === -2).map((entry) => entry.key)
    })
  }

  /** Whether a purge noted since `since` reaches this entry (for values kept in one task's store only). */
  async overtaken(
    namespace: string,
    key: string,
    tags: readonly string[],
    since: number,
    now: number,
  ): Promise<boolean> {
    return (
      (await this.#call('read', (c) =>
        c.cachecarOvertaken(...this.#purgeArgs(namespace, key, since, now), ...tags),
      )) === 1
    )
  }

  /** Notes a purge before it runs, so values fetched before it are refused by every task's later writes. */
  async notePurge(scope: PurgeScope, now: number): Promise<void> {
    const [kind, namespace, items] =
      'tags' in scope
        ? ['t', '', scope.tags]
        : 'prefix' in scope
          ? ['n', scope.namespace, [scope.prefix]]
          : ['k', scope.namespace, [scope.key]]
    if (items.length === 0) return
    await this.#call('delete', (c) =>
      c.cachecarNotePurge(this.#keys.purgeNotes, now, PURGE_MEMORY_MS, kind, namespace, ...items),
    )
  }

  async remove(
    namespace: string,
    key: string,
    expected: string,
    now: number,
  ): Promise<'deleted' | 'not-found' | 'precondition-failed'> {
    const result = await this.#call('delete', (c) => c.cachecarRemove(this.#keys.entry(namespace, key), expected, now))
    return result === 1 ? 'deleted' : result === 0 ? 'not-found' : 'precondition-failed'
  }

  /** Adds `by` to a decimal counter atomically in the engine (no compare-and-set rounds under contention). */
  async incr(namespace: string, key: string, by: number, ttlMs: number, now: number): Promise<IncrResult> {
    const [status, value, etag, expiresAt] = await this.#call('incr', (c) =>
      c.cachecarIncr(this.#keys.entry(namespace, key), by, now, ttlMs),
    )
    if (status === 'not-a-counter' || status === 'overflow') return { status }
    return { status: 'ok', value: Number(value), etag: etag!, expiresAt: Number(expiresAt) }
  }

  async rename(namespace: string, from: string, to: string, now: number): Promise<boolean> {
    const moved = await this.#call('rename', (c) =>
      c.cachecarRename(this.#keys.entry(namespace, from), this.#keys.entry(namespace, to), this.#keys.tagPrefix, now),
    )
    return moved === 1
  }

  /** Deletes every entry of `namespace` whose key starts with `prefix` (a SCAN: cost grows with the keyspace). */
  async removePrefix(namespace: string, prefix: string): Promise<number> {
    let removed = 0
    for (const keys of await this.#scan(namespace, prefix)) {
      if (keys.length > 0) removed += await this.#call('delete', (c) => c.unlink(...keys))
    }
    return removed
  }

  async removeTags(tags: readonly string[]): Promise<number> {
    let removed = 0
    for (const tag of new Set(tags))
      removed += await this.#call('delete', (c) => c.cachecarRemoveTag(this.#keys.tagPrefix + tag, tag))
    return removed
  }

  /** Keys of a namespace in order, without values (a SCAN, then the metadata of the page). */
  async list(namespace: string, options: ListOptions, now: number): Promise<EntryInfo[]> {
    const base = this.#keys.entry(namespace, '')
    const keys = (await this.#scan(namespace, options.prefix)).flat().map((redisKey) => redisKey.slice(base.length))
    const after = options.after ?? ''
    const page = [...new Set(keys)].filter((key) => key > after).sort()
    const infos: EntryInfo[] = []
    for (const key of page) {
      const fields = await this.#call('read', (c) =>
        c.hmgetBuffer(this.#keys.entry(namespace, key), 't', 'e', 'g', 'c', 'x', 'v'),
      )
      const [t, e, g, c, x, v] = fields
      if (!t || !e || !c || !x || !v) continue
      const entry = entryFrom(namespace, key, { t, e, g: g ?? Buffer.alloc(0), c, x, v }, now)
      if (!entry) continue
      const { value: _value, ...info } = entry
      infos.push(info)
      if (infos.length === options.limit) break
    }
    return infos
  }

  /** Takes the fleet-wide coalescing lock on one key for `ttlMs`, unless another instance holds it or marked a pass. */
  async tryLock(namespace: string, key: string, ttlMs: number): Promise<LockState> {
    return await this.#call('lock', (c) =>
      c.cachecarLock(this.#keys.lock(namespace, key), this.#options.instanceId, ttlMs),
    )
  }

  /** Turns this task's lock on the key into a pass marker for `ttlMs`: other tasks stop waiting on the key. */
  async markPass(namespace: string, key: string, ttlMs: number): Promise<void> {
    await this.#call('lock', (c) => c.cachecarPass(this.#keys.lock(namespace, key), this.#options.instanceId, ttlMs))
  }

  async unlock(namespace: string, key: string): Promise<void> {
    await this.#call('lock', (c) => c.cachecarUnlock(this.#keys.lock(namespace, key), this.#options.instanceId))
  }

  /** The entry if it is there now, and whether someone still holds the key's lock (one round trip; a pass is not). */
  async readOrLocked(
    namespace: string,
    key: string,
    now: number,
  ): Promise<{ entry: Entry | undefined; locked: boolean }> {
    const [fields, lock] = await this.#call('read', (c) =>
      Promise.all([c.hgetallBuffer(this.#keys.entry(namespace, key)), c.get(this.#keys.lock(namespace, key))]),
    )
    return { entry: entryFrom(namespace, key, fields, now), locked: lock !== null && lock !== PASS_MARK }
  }

  /** Tells every other instance to drop its near copies. Best effort: a lost message leaves copies until their TTL. */
  async publish(message: Invalidation): Promise<void> {
    await this.#call('publish', (c) =>
      c.publish(this.#keys.channel, JSON.stringify({ from: this.#options.instanceId, ...message })),
    )
  }

  async ping(): Promise<void> {
    await this.#call('ping', (c) => c.ping())
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#client.disconnect()
    this.#subscriber.disconnect()
  }

  async #call<T>(operation: string, run: (client: Client) => Promise<T>): Promise<T> {
    if (!this.up)
      throw new SharedTierUnavailableError(
        this.#connected ? 'shared tier circuit open after repeated failures' : 'shared tier not connected',
      )
    try {
      const result = await run(this.#client)
      if (this.#circuit.succeeded())
        this.#options.onStateChange?.(true, 'circuit closed: the shared tier answered again')
      return result
    } catch (error) {
      this.#options.onError?.(operation, error as Error)
      if (this.#circuit.failed()) {
        this.#options.onStateChange?.(
          false,
          `circuit open after ${FAILURES_TO_OPEN} failures: ${(error as Error).message}`,
        )
      }
      throw new SharedTierUnavailableError(`shared tier ${operation} failed: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }

  #setConnected(connected: boolean, reason: string): void {
    if (this.#connected === connected || this.#closed) return
    this.#connected = connected
    if (connected) this.#circuit.reset()
    this.#options.onStateChange?.(connected, reason)
  }

  #received(channel: string, raw: string): void {
    if (channel !== this.#keys.channel) return
    const message = invalidationFrom(raw, this.#options.instanceId)
    if (message) this.#options.onInvalidation?.(message)
  }

  #writeArgs(entry: Entry, expected: string, now: number, since: number): (string | Buffer | number)[] {
    return [
      this.#keys.entry(entry.namespace, entry.key),
      expected,
      Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength),
      entry.contentType,
      entry.etag,
      tagField(entry.tags),
      entry.writtenAt,
      entry.expiresAt,
      now,
      Math.max(1, Math.ceil(entry.expiresAt - now)),
      this.#keys.tagPrefix,
      ...this.#purgeArgs(entry.namespace, entry.key, since, now),
      ...entry.tags,
    ]
  }

  /** The six purge-note arguments of OVERTAKEN; a secret namespace's key is never sent (no purge is noted there). */
  #purgeArgs(namespace: string, key: string, since: number, now: number): (string | number)[] {
    const checked = since > 0 && !this.#options.secretKeys?.has(namespace)
    return [checked ? since : 0, this.#keys.purgeNotes, namespace, checked ? key : '', PURGE_MEMORY_MS, now]
  }

  async #scan(namespace: string, prefix: string): Promise<string[][]> {
    const pattern = `${globEscape(this.#keys.entry(namespace, '') + prefix)}*`
    const batches: string[][] = []
    let cursor = '0'
    do {
      const [next, keys] = await this.#call('scan', (c) => c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000))
      batches.push(keys)
      cursor = next
    } while (cursor !== '0')
    return batches
  }
}
