// Two tiers behind one Store: the task's own store (L1, SQLite) in front of the shared tier (L2, Valkey/Redis).
// While the shared tier is up it is the authority for every write (compare-and-set there, then mirrored to L1); when
// it is down, near-cached namespaces degrade to L1 alone and authoritative ones (sessions) fail closed.
import { entryWritten, mergedListing } from '../keys.ts'
import { preconditionHolds } from '../precondition.ts'
import type { Invalidation } from '../shared/codec.ts'
import type { SharedTier } from '../shared/shared-tier.ts'
import {
  SharedTierUnavailableError,
  OvertakenByPurgeError,
  type AbandonReason,
  type DeleteResult,
  type Entry,
  type EntryInfo,
  type IncrResult,
  type ListOptions,
  type Precondition,
  type PurgeScope,
  type SetInput,
  type SetResult,
  type Store,
  type StoreStats,
  type SweepResult,
  type UpdateResult,
} from '../types.ts'
import { NearCopies, type NamespaceRole } from './near-copies.ts'
import { setShared, updateShared } from '../shared/compare-and-set.ts'
import { CrossTaskCoalescing } from '../shared/coalescing.ts'
import { WriteFence } from '../write-fence.ts'

export interface TieredStoreOptions {
  readonly roleOf: (namespace: string) => NamespaceRole
  /** Tags of authoritative entries: deleting them fails closed too. */
  readonly authoritativeTag?: (tag: string) => boolean
  /** Larger values stay in L1 only. */
  readonly maxSharedValueBytes: number
  /**
   * Cross-task coalescing for near-quiet namespaces (cached HTTP responses): a read that misses both tiers takes a
   * lock in the shared tier for this long; a task that finds the lock taken waits for the holder's write instead of
   * going upstream itself. 0 turns it off.
   */
  readonly coalesceMs?: number
  readonly now?: () => number
  readonly events?: TieredStoreEvents
}

export interface TieredStoreEvents {
  /** Where a near-cached read was answered. */
  read?(tier: 'local' | 'shared' | 'miss'): void
  /**
   * A miss in both tiers with cross-task coalescing on: this task took the lock and goes upstream (lead), waits for
   * the task that holds it (wait), or goes upstream at once because the key's last answer was not storable (pass).
   */
  coalesce?(outcome: 'lead' | 'wait' | 'pass'): void
  /** An operation ran on L1 alone because the shared tier failed or was down. */
  degraded?(operation: string): void
}

type Mutation = Omit<SetInput, 'namespace' | 'key'>

export class TieredStore implements Store {
  readonly #local: Store
  readonly #shared: SharedTier
  readonly #options: TieredStoreOptions
  readonly #now: () => number
  /** How L1 follows L2 (near-copies.ts). */
  readonly #copies: NearCopies
  /** Writes still on their way through the shared tier into L1: deletes and purges wait for them. */
  readonly #fence = new WriteFence()
  /** Undefined when coalescing is off (CACHECAR_SHARED_COALESCE_MS=0). */
  readonly #coalescing: CrossTaskCoalescing | undefined

  constructor(local: Store, shared: SharedTier, options: TieredStoreOptions) {
    this.#local = local
    this.#shared = shared
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#copies = new NearCopies(local, shared, {
      roleOf: options.roleOf,
      now: this.#now,
      ...(options.events && { events: options.events }),
    })
    this.#coalescing = options.coalesceMs
      ? new CrossTaskCoalescing(shared, {
          coalesceMs: options.coalesceMs,
          now: this.#now,
          outcome: (outcome) => options.events?.coalesce?.(outcome),
          unavailable: (error) => error instanceof SharedTierUnavailableError,
        })
      : undefined
  }

  /** Drops the L1 copies another instance announced as changed. */
  async applyInvalidation(message: Invalidation): Promise<void> {
    this.#copies.dropping()
    if ('tags' in message) await this.#local.deleteTags(message.tags)
    else if ('prefix' in message) await this.#local.deletePrefix(message.namespace, message.prefix)
    else for (const key of message.keys) await this.#local.delete(message.namespace, key)
  }

  /** A near-cached entry L1 holds in memory, as get() would answer it; authoritative reads always ask the shared tier. */
  peek(namespace: string, key: string): Entry | undefined {
    if (this.#role(namespace) === 'authoritative') return undefined
    const local = this.#local.peek?.(namespace, key)
    if (local) this.#options.events?.read?.('local')
    return local
  }

  async get(namespace: string, key: string): Promise<Entry | undefined> {
    if (this.#role(namespace) === 'authoritative') return this.#shared.read(namespace, key, this.#now())
    const local = await this.#local.get(namespace, key)
    if (local) {
      this.#options.events?.read?.('local')
      return local
    }
    const generation = this.#copies.generation
    const read = () => this.#shared.read(namespace, key, this.#now())
    const stored = await this.#copies.near('read', read, async () => undefined)
    // Not there yet: wait for another task's fetch of it (cross-task coalescing), or lead it.
    const waits = !stored && this.#coalescing && this.#role(namespace) === 'near-quiet' && this.#shared.up
    const shared = waits ? await this.#coalescing!.leadOrWait(namespace, key) : stored
    this.#options.events?.read?.(shared ? 'shared' : 'miss')
    if (!shared) return undefined
    if (generation === this.#copies.generation) await this.#copies.fillLocal(shared)
    return { ...shared, source: waits ? 'collapsed' : 'shared' }
  }

  async abandon(namespace: string, key: string, reason: AbandonReason): Promise<void> {
    await this.#coalescing?.abandon(namespace, key, reason)
  }

  set(input: SetInput, precondition?: Precondition): Promise<SetResult> {
    return this.#fence.track(this.#set(input, precondition))
  }

  async #set(input: SetInput, precondition?: Precondition): Promise<SetResult> {
    if (input.value.byteLength > this.#options.maxSharedValueBytes && this.#role(input.namespace) !== 'authoritative') {
      // No shared copy will come of this task's lock: other tasks stop waiting on it first of all.
      await this.#coalescing?.pass(input.namespace, input.key)
      // Kept in this task alone, but a purge noted by another task still wins.
      if (await this.#copies.overtaken([input])) throw new OvertakenByPurgeError()
      const result = await this.#local.set(input, precondition)
      if (result.status !== 'precondition-failed') await this.#copies.dropShared(input.namespace, [input.key])
      return result
    }
    return this.#copies.tiered(
      input.namespace,
      'write',
      async () => {
        const result = await setShared(this.#shared, input, precondition, this.#now)
        if (result.status === 'precondition-failed') return result
        // A new entry can have no copy in another task's L1; a replaced one (a refresh, a soft purge) can.
        await this.#copies.mirror(input.namespace, [input.key], [input], result.status === 'replaced')
        await this.#coalescing?.release(input.namespace, [input.key])
        const { etag, expiresAt } = result.entry
        return { status: result.status, etag, expiresAt }
      },
      () => this.#local.set(input, precondition),
    )
  }

  setMany(inputs: readonly SetInput[]): Promise<{ etag: string; expiresAt: number }[]> {
    return this.#fence.track(this.#setMany(inputs))
  }

  async #setMany(inputs: readonly SetInput[]): Promise<{ etag: string; expiresAt: number }[]> {
    const namespace = inputs[0]?.namespace
    if (namespace === undefined) return []
    if (inputs.some((input) => input.namespace !== namespace)) throw new Error('setMany takes one namespace at a time')
    const shared = inputs.filter((input) => input.value.byteLength <= this.#options.maxSharedValueBytes)
    const sharedKeys = shared.map((input) => input.key)
    const since = Math.min(...inputs.map((input) => input.unlessPurgedSince ?? Infinity))
    return this.#copies.tiered(
      namespace,
      'write',
      async () => {
        if (shared.length < inputs.length && (await this.#copies.overtaken(inputs))) throw new OvertakenByPurgeError()
        const entries = shared.map((input) => entryWritten(input, this.#now()))
        const overtaken = await this.#shared.writeAll(entries, this.#now(), Number.isFinite(since) ? since : 0)
        if (overtaken.length > 0) {
          // What the MULTI did write (a Vary spec, say) stays shared; this task's L1 takes nothing of it.
          await this.#coalescing?.release(namespace, sharedKeys)
          throw new OvertakenByPurgeError()
        }
        if (this.#role(namespace) === 'authoritative')
          return entries.map(({ etag, expiresAt }) => ({ etag, expiresAt }))
        await this.#coalescing?.release(namespace, sharedKeys)
        const results = await this.#local.setMany(inputs)
        if (this.#role(namespace) === 'near')
          await this.#copies.publish({ namespace, keys: inputs.map((input) => input.key) })
        return results
      },
      () => this.#local.setMany(inputs),
    )
  }

  async delete(namespace: string, key: string, precondition?: Precondition): Promise<DeleteResult> {
    await this.#fence.passed()
    return this.#copies.tiered(
      namespace,
      'delete',
      async () => {
        const current = precondition ? await this.#shared.read(namespace, key, this.#now()) : undefined
        if (precondition && !preconditionHolds(precondition, current?.etag)) return 'precondition-failed'
        const shared = await this.#shared.remove(namespace, key, current?.etag ?? '', this.#now())
        if (shared === 'precondition-failed') return shared
        if (this.#role(namespace) === 'authoritative') return shared
        this.#copies.dropping()
        const local = await this.#local.delete(namespace, key)
        await this.#copies.publish({ namespace, keys: [key] })
        return shared === 'deleted' || local === 'deleted' ? 'deleted' : local
      },
      () => this.#local.delete(namespace, key, precondition),
    )
  }

  async deletePrefix(namespace: string, prefix: string): Promise<number> {
    await this.#fence.passed()
    return this.#copies.tiered(
      namespace,
      'delete',
      async () => {
        const shared = await this.#shared.removePrefix(namespace, prefix)
        if (this.#role(namespace) === 'authoritative') return shared
        const local = await this.#local.deletePrefix(namespace, prefix)
        await this.#copies.publish({ namespace, prefix })
        return Math.max(shared, local)
      },
      () => this.#local.deletePrefix(namespace, prefix),
    )
  }

  /** Notes a purge in the shared tier, so no task stores a value fetched before it; while the tier is down, nothing to note. */
  async notePurge(scope: PurgeScope): Promise<void> {
    await this.#copies.near(
      'delete',
      () => this.#shared.notePurge(scope, this.#now()),
      async () => {},
    )
  }

  async deleteTags(tags: readonly string[]): Promise<number> {
    await this.#fence.passed()
    this.#copies.dropping()
    const local = await this.#local.deleteTags(tags)
    let shared = 0
    try {
      shared = await this.#shared.removeTags(tags)
    } catch (error) {
      if (!(error instanceof SharedTierUnavailableError)) throw error
      // Entries that only the shared tier holds cannot be said to be gone.
      if (tags.some((tag) => this.#options.authoritativeTag?.(tag))) throw error
      this.#options.events?.degraded?.('delete')
      return local
    }
    await this.#copies.publish({ tags })
    return Math.max(shared, local)
  }

  async update(
    namespace: string,
    key: string,
    mutate: (current: Entry) => Mutation | undefined,
    precondition?: Precondition,
  ): Promise<UpdateResult> {
    return this.#copies.tiered(
      namespace,
      'write',
      async () => {
        const result = await updateShared(this.#shared, namespace, key, mutate, precondition, this.#now)
        if (result.status === 'absent') {
          // Near-cached entries too large for the shared tier, or written while it was down, live in L1 alone.
          return this.#role(namespace) === 'authoritative'
            ? { status: 'not-found' }
            : this.#local.update(namespace, key, mutate, precondition)
        }
        if (result.status === 'updated') await this.#copies.mirror(namespace, [key], [], true)
        return result
      },
      () => this.#local.update(namespace, key, mutate, precondition),
    )
  }

  async rename(namespace: string, from: string, to: string): Promise<boolean> {
    return this.#copies.tiered(
      namespace,
      'write',
      async () => {
        const moved = await this.#shared.rename(namespace, from, to, this.#now())
        if (this.#role(namespace) === 'authoritative') return moved
        const movedLocally = moved ? false : await this.#local.rename(namespace, from, to)
        await this.#copies.mirror(namespace, [from, to], [], true)
        return moved || movedLocally
      },
      () => this.#local.rename(namespace, from, to),
    )
  }

  async incr(namespace: string, key: string, by: number, ttlMs: number): Promise<IncrResult> {
    return this.#copies.tiered(
      namespace,
      'write',
      async () => {
        const result = await this.#shared.incr(namespace, key, by, ttlMs, this.#now())
        if (result.status === 'ok') await this.#copies.mirror(namespace, [key], [], true)
        return result
      },
      () => this.#local.incr(namespace, key, by, ttlMs),
    )
  }

  async list(namespace: string, options: ListOptions): Promise<EntryInfo[]> {
    if (this.#role(namespace) === 'authoritative') return this.#shared.list(namespace, options, this.#now())
    const local = await this.#local.list(namespace, options)
    const shared = await this.#copies.near(
      'read',
      () => this.#shared.list(namespace, options, this.#now()),
      async () => [],
    )
    return mergedListing([...local, ...shared], options.limit)
  }

  // Expiry in the shared tier is the engine's own; upkeep, stats and readiness are about this task's store.
  sweepExpired(batch: number): Promise<SweepResult> {
    return this.#local.sweepExpired(batch)
  }

  maintain(): Promise<void> {
    return this.#local.maintain()
  }

  stats(): Promise<StoreStats> {
    return this.#local.stats()
  }

  ping(): Promise<void> {
    return this.#local.ping()
  }

  async close(): Promise<void> {
    await this.#shared.close()
    await this.#local.close()
  }

  #role(namespace: string): NamespaceRole {
    return this.#options.roleOf(namespace)
  }
}
