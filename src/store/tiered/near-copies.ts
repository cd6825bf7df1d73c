// How L1 follows L2 in the tiered store: calls that fall back to L1 while the shared tier is down, L1 copies kept or
// dropped after each shared write, invalidations announced to the other tasks, and a read generation that keeps a
// read from refilling L1 with what a write or an invalidation dropped meanwhile.
import type { SharedTier } from '../shared/shared-tier.ts'
import type { Invalidation } from '../shared/codec.ts'
import {
  SharedTierUnavailableError,
  StoreBusyError,
  StoreFullError,
  type Entry,
  type SetInput,
  type Store,
} from '../types.ts'

/**
 * authoritative: kept only in the shared tier, so every task sees every write at once; fails closed when it is down.
 * near: L1 in front of L2; writes and deletes are announced so other tasks drop their L1 copies.
 * near-quiet: the same, but storing a new entry is not announced (cached HTTP responses: no other task can hold a
 * copy of an entry that did not exist); replacing one (a refresh, a soft purge) and deleting one are.
 */
export type NamespaceRole = 'authoritative' | 'near' | 'near-quiet'

export interface NearCopiesOptions {
  readonly roleOf: (namespace: string) => NamespaceRole
  readonly now: () => number
  readonly events?: { degraded?(operation: string): void }
}

export class NearCopies {
  readonly #local: Store
  readonly #shared: SharedTier
  readonly #options: NearCopiesOptions
  readonly #now: () => number
  /** Bumped whenever L1 copies are dropped: a read fills L1 only if nothing was dropped while it ran. */
  #generation = 0

  constructor(local: Store, shared: SharedTier, options: NearCopiesOptions) {
    this.#local = local
    this.#shared = shared
    this.#options = options
    this.#now = options.now
  }

  /** Compare before and after a read: equal means no L1 copy was dropped meanwhile. */
  get generation(): number {
    return this.#generation
  }

  /** L1 copies are about to be dropped outside a mirror (an invalidation, a delete, a purge). */
  dropping(): void {
    this.#generation++
  }

  /**
   * Runs `shared` while the shared tier answers; on SharedTierUnavailableError, near-cached namespaces run `local`
   * instead and authoritative ones fail (503 at the HTTP layer).
   */
  async tiered<T>(namespace: string, operation: string, shared: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    if (this.#options.roleOf(namespace) === 'authoritative') return shared()
    return this.near(operation, shared, local)
  }

  async near<T>(operation: string, shared: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    if (!this.#shared.up) {
      this.#options.events?.degraded?.(operation)
      return local()
    }
    try {
      return await shared()
    } catch (error) {
      if (!(error instanceof SharedTierUnavailableError)) throw error
      this.#options.events?.degraded?.(operation)
      return local()
    }
  }

  /**
   * After a shared write: L1 gets the written values (or loses its copies of `keys`), and other tasks are told to
   * drop theirs when `replaced` says they may hold one or the namespace announces every write.
   */
  async mirror(
    namespace: string,
    keys: readonly string[],
    written: readonly SetInput[],
    replaced: boolean,
  ): Promise<void> {
    if (this.#options.roleOf(namespace) === 'authoritative') return
    this.#generation++
    for (const input of written) {
      try {
        await this.#local.set(input)
      } catch (error) {
        // The shared tier holds the value: a full or locked L1 only loses its near copy.
        if (!(error instanceof StoreFullError || error instanceof StoreBusyError)) throw error
        // If even the delete fails (L1 locked through every retry), this task may serve its old near copy until
        // that copy's TTL ends: a known gap, left because L1 cannot be made to forget anything else then either.
        await this.#local.delete(input.namespace, input.key).catch(() => {})
      }
    }
    const dropped = keys.filter((key) => !written.some((input) => input.key === key))
    for (const key of dropped) await this.#local.delete(namespace, key)
    if (replaced || this.#options.roleOf(namespace) === 'near') await this.publish({ namespace, keys })
  }

  async publish(message: Invalidation): Promise<void> {
    try {
      await this.#shared.publish(message)
    } catch (error) {
      if (!(error instanceof SharedTierUnavailableError)) throw error
      this.#options.events?.degraded?.('publish')
    }
  }

  /** A value now kept in L1 alone: an older shared copy must not be served by other tasks. */
  async dropShared(namespace: string, keys: readonly string[]): Promise<void> {
    try {
      for (const key of keys) await this.#shared.remove(namespace, key, '', this.#now())
      await this.publish({ namespace, keys })
    } catch (error) {
      if (!(error instanceof SharedTierUnavailableError)) throw error
      this.#options.events?.degraded?.('delete')
    }
  }

  /** Whether a purge noted in the shared tier reaches any of `inputs` (values this task keeps in L1 alone). */
  async overtaken(inputs: readonly SetInput[]): Promise<boolean> {
    for (const input of inputs) {
      const since = input.unlessPurgedSince
      if (since === undefined) continue
      const check = () => this.#shared.overtaken(input.namespace, input.key, input.tags ?? [], since, this.#now())
      if (await this.near('read', check, async () => false)) return true
    }
    return false
  }

  async fillLocal(entry: Entry): Promise<void> {
    const ttlMs = entry.expiresAt - this.#now()
    if (ttlMs <= 0) return
    try {
      await this.#local.set({
        namespace: entry.namespace,
        key: entry.key,
        value: entry.value,
        contentType: entry.contentType,
        ttlMs,
        tags: entry.tags,
      })
    } catch (error) {
      if (!(error instanceof StoreFullError || error instanceof StoreBusyError)) throw error
    }
  }
}
