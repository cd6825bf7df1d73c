// Cross-task request coalescing: when a stored response misses in every tier, one task (the one that takes the key's
// lock in the shared tier) goes upstream and the others wait for the copy it stores, instead of every task of the
// fleet sending the same request upstream at once.
import type { AbandonReason, Entry } from '../types.ts'
import type { LockState } from './scripts.ts'

/** What coalescing needs of the shared tier. */
export interface CoalescingLocks {
  tryLock(namespace: string, key: string, ttlMs: number): Promise<LockState>
  readOrLocked(namespace: string, key: string, now: number): Promise<{ entry: Entry | undefined; locked: boolean }>
  markPass(namespace: string, key: string, ttlMs: number): Promise<void>
  unlock(namespace: string, key: string): Promise<void>
}

export interface CoalescingOptions {
  /** How long a lock holds, so how long another task waits at most. */
  readonly coalesceMs: number
  readonly now: () => number
  /** Every miss that reached the lock: this task leads, waits on another's, or the key is marked a pass. */
  readonly outcome?: (outcome: 'lead' | 'wait' | 'pass') => void
  /** A lock call failed (the shared tier went down): the miss goes upstream alone. */
  readonly unavailable: (error: unknown) => boolean
}

/** How often a task waiting on another task's coalescing lock looks for the entry. */
const COALESCE_POLL_MS = 10

/** How long a key whose answer was not storable goes upstream without coalescing (Varnish's hit-for-miss idea). */
export const PASS_MS = 30_000

/** How this task names a (namespace, key) in its sets of held locks and of waits. */
const lockId = (namespace: string, key: string) => `${namespace}\u0000${key}`

export class CrossTaskCoalescing {
  readonly #locks: CoalescingLocks
  readonly #options: CoalescingOptions
  /** Locks this task holds (it went upstream for the key). */
  readonly #held = new Set<string>()
  /** This task's reads waiting on another task's lock, one per key. */
  readonly #waits = new Map<string, Promise<Entry | undefined>>()

  constructor(locks: CoalescingLocks, options: CoalescingOptions) {
    this.#locks = locks
    this.#options = options
  }

  /**
   * After a miss in both tiers: undefined if this task now holds the key's lock (it goes upstream, and its write
   * releases the lock), else the entry the holder wrote, or undefined once the lock is gone or expired without one.
   * Reads of one key in this task share one wait, so a herd polls the shared tier once per interval, not per request.
   */
  leadOrWait(namespace: string, key: string): Promise<Entry | undefined> {
    const id = lockId(namespace, key)
    // This task's own lock: nothing to wait for (storing a Vary response reads its URL's key, which the miss locked,
    // and waited out the whole coalescing time on itself).
    if (this.#held.has(id)) return Promise.resolve(undefined)
    let wait = this.#waits.get(id)
    if (!wait) {
      wait = this.#lockOrPoll(namespace, key, id)
        .catch((error: unknown) => {
          if (this.#options.unavailable(error)) return undefined
          throw error
        })
        .finally(() => this.#waits.delete(id))
      this.#waits.set(id, wait)
    }
    return wait
  }

  /** The task that missed `key` will not write it after all (Store.abandon explains the reasons). */
  abandon(namespace: string, key: string, reason: AbandonReason): Promise<void> {
    return reason === 'not-stored' ? this.release(namespace, [key]) : this.pass(namespace, key)
  }

  /**
   * Hit-for-pass: no shared copy will come of this task's lock on the key (the answer may not be stored, or only in
   * this task's L1), so the next misses of the key in any task go upstream at once instead of each waiting one
   * upstream round trip on a lock that will never end in a shared copy.
   */
  async pass(namespace: string, key: string): Promise<void> {
    if (!this.#held.delete(lockId(namespace, key))) return
    // Best effort: if the mark cannot be written, the lock simply expires after coalesceMs.
    await this.#locks.markPass(namespace, key, PASS_MS).catch(() => {})
  }

  /** A write of keys this task locked ends the other tasks' wait. */
  async release(namespace: string, keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      if (!this.#held.delete(lockId(namespace, key))) continue
      // Best effort: the write itself landed; a lock left behind expires after coalesceMs, and waiters that poll
      // meanwhile find the written entry.
      await this.#locks.unlock(namespace, key).catch(() => {})
    }
  }

  async #lockOrPoll(namespace: string, key: string, id: string): Promise<Entry | undefined> {
    const lockMs = this.#options.coalesceMs
    const lock = await this.#locks.tryLock(namespace, key, lockMs)
    this.#options.outcome?.(lock === 'acquired' ? 'lead' : lock === 'pass' ? 'pass' : 'wait')
    if (lock === 'acquired') {
      this.#held.add(id)
      setTimeout(() => this.#held.delete(id), lockMs).unref()
      return undefined
    }
    if (lock === 'pass') return undefined
    const deadline = performance.now() + lockMs
    while (performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, COALESCE_POLL_MS))
      const { entry, locked } = await this.#locks.readOrLocked(namespace, key, this.#options.now())
      if (entry || !locked) return entry
    }
    return undefined
  }
}
