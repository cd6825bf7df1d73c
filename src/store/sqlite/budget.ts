// Measures what the database occupies (main file + WAL + shm) and says when eviction must run.
import { statSync } from 'node:fs'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { MEMORY } from './open.ts'

/** Eviction starts above HIGH × budget and stops below LOW × budget, so it runs in rare, larger steps. */
export const HIGH_WATERMARK = 0.9
export const LOW_WATERMARK = 0.8
/** Rough per-row cost of keys, metadata and index entries, added to a value's size in estimates. */
export const ROW_OVERHEAD_BYTES = 256

function fileSize(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0 // not there (yet, or any more): it takes no room
  }
}

export class DiskBudget {
  readonly maxBytes: number
  readonly #path: string
  readonly #pageCount: StatementSync
  readonly #freelistCount: StatementSync
  readonly #pageSize: number
  /** Bytes kept outside the database (large values in files) that count against the same budget. */
  readonly #outsideBytes: () => number
  /** Bytes at the last measurement plus bytes written since: an upper-bound estimate. */
  #estimate = 0

  constructor(db: DatabaseSync, path: string, maxBytes: number, outsideBytes: () => number = () => 0) {
    this.maxBytes = maxBytes
    this.#outsideBytes = outsideBytes
    this.#path = path
    this.#pageCount = db.prepare('PRAGMA page_count')
    this.#freelistCount = db.prepare('PRAGMA freelist_count')
    this.#pageSize = Number((db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size)
    this.measure()
  }

  /** Bytes on disk now: database pages (free ones too, until vacuumed), WAL, shm and value files. */
  diskBytes(): number {
    const pages = this.#pages() * this.#pageSize
    if (this.#path === MEMORY) return pages
    return pages + this.walBytes() + fileSize(`${this.#path}-shm`) + this.#outsideBytes()
  }

  /** The database's size in pages, pages the WAL holds included. */
  #pages(): number {
    return Number((this.#pageCount.get() as { page_count: number }).page_count)
  }

  /** Pages on SQLite's freelist: reused by the next writes, or handed back to the filesystem by a vacuum. */
  freePages(): number {
    return Number((this.#freelistCount.get() as { freelist_count: number }).freelist_count)
  }

  /** Bytes rows actually use: like diskBytes but free pages, which SQLite reuses, do not count. */
  usedBytes(): number {
    return this.diskBytes() - this.freePages() * this.#pageSize
  }

  /**
   * Bytes of cached data: pages in use and value files, not the WAL. Every page the WAL holds is also counted in the
   * database's page count, so counting the WAL as well made eviction delete live rows to pay for log bytes (a 10 s
   * read-only run after a 2 GiB fill evicted 17 % of the cache). The hard mark, which guards the disk, still counts it.
   */
  dataBytes(): number {
    return (this.#pages() - this.freePages()) * this.#pageSize + (this.#path === MEMORY ? 0 : this.#outsideBytes())
  }

  /** Bytes of the WAL file now. */
  walBytes(): number {
    return this.#path === MEMORY ? 0 : fileSize(`${this.#path}-wal`)
  }

  /** True while cached data (plus one row's overhead) uses more than `fraction` of the budget. */
  dataAbove(fraction: number): boolean {
    return this.dataBytes() + ROW_OVERHEAD_BYTES > this.maxBytes * fraction
  }

  measure(): number {
    this.#estimate = this.diskBytes()
    return this.#estimate
  }

  /** Records a write of `bytes` in the estimate. */
  wrote(bytes: number): void {
    this.#estimate += bytes + ROW_OVERHEAD_BYTES
  }

  /** Cheap check before a write: false means the write surely stays below the high watermark. */
  mayExceed(incomingBytes: number): boolean {
    return this.#estimate + incomingBytes + ROW_OVERHEAD_BYTES > this.maxBytes * HIGH_WATERMARK
  }

  /** True while rows (plus an incoming write) use more than `fraction` of the budget. */
  usedAbove(fraction: number, incomingBytes = 0): boolean {
    return this.usedBytes() + incomingBytes + ROW_OVERHEAD_BYTES > this.maxBytes * fraction
  }

  /** True while the files on disk (plus an incoming write) exceed `fraction` of the budget. */
  diskAbove(fraction: number, incomingBytes = 0): boolean {
    return this.diskBytes() + incomingBytes > this.maxBytes * fraction
  }
}
