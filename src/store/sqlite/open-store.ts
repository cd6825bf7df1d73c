// The store's database at start: the path locked, the previous run's files moved aside, a fresh file opened.
import type { DatabaseSync } from 'node:sqlite'
import { lockDatabasePath, type InstanceLock } from './instance-lock.ts'
import { moveAside, removeLeftovers, storeFiles } from './leftovers.ts'
import { MEMORY, PAGE_SIZE, openDatabase } from './open.ts'

/**
 * The store's database at `options.path`, from scratch: locks the path first (a second instance stops there instead
 * of deleting the first one's files), moves what a previous run left aside and deletes it in the background
 * (`leftoversRemoved` settles then: starting never waits for it), and sizes the pragmas to the byte budget.
 */
export function openStoreDatabase(options: {
  readonly path: string
  readonly maxBytes: number
  readonly maxPages?: number | undefined
  readonly lockingMode?: 'exclusive' | 'normal' | undefined
}): { db: DatabaseSync; lock: InstanceLock; leftoversRemoved: Promise<void> } {
  const lock = lockDatabasePath(options.path)
  let leftoversRemoved: Promise<void> = Promise.resolve()
  if (options.path !== MEMORY) {
    moveAside(options.path, storeFiles(options.path))
    leftoversRemoved = removeLeftovers(options.path)
  }
  const db = openDatabase({
    path: options.path,
    maxPages: options.maxPages ?? (options.maxBytes * 0.95) / PAGE_SIZE,
    walLimitBytes: Math.min(16 * 1024 ** 2, options.maxBytes / 16),
    // A checkpoint every 4 MiB of WAL, less for small budgets.
    walCheckpointPages: Math.min(4 * 1024 ** 2, options.maxBytes / 16) / PAGE_SIZE,
    mmapBytes: 0,
    lockingMode: options.lockingMode ?? 'exclusive',
  })
  return { db, lock, leftoversRemoved }
}
