// When entries were last read, kept in memory so that a read never writes to SQLite. Writing access times back cost
// a random UPDATE per read: at 1-10M entries a stall of 0.35-0.8 s every 10,000 reads, WAL spikes of 170-270 MB,
// and half the random-read throughput. Eviction asks here instead, and moves an entry read since its last write (or
// since it was last spared) to the back of the line, a second chance in the manner of the CLOCK algorithm.
//
// A fixed table of read times indexed by a hash of (namespace, key): its size follows the byte budget (8 bytes a slot,
// one slot per 4 KiB of budget, 16 MiB at most), so entries may share a slot. Sharing only makes an entry look read
// when a slot-mate was, never a read entry look unread: the approximation keeps too much, never evicts a read key.

import { fnv1a } from '../keys.ts'

const MIN_SLOTS = 1 << 10
const MAX_SLOTS = 1 << 21

export class RecentReads {
  readonly #times: Float64Array
  readonly #mask: number

  constructor(budgetBytes: number) {
    let slots = MIN_SLOTS
    while (slots < MAX_SLOTS && slots * 4096 < budgetBytes) slots *= 2
    this.#times = new Float64Array(slots)
    this.#mask = slots - 1
  }

  /** Notes a read of (namespace, key) at `at` (ms). */
  note(namespace: string, key: string, at: number): void {
    this.#times[this.#slot(namespace, key)] = at
  }

  /** When (namespace, key) was last read, or a slot-mate of it; 0 if never since start. */
  readAt(namespace: string, key: string): number {
    return this.#times[this.#slot(namespace, key)]!
  }

  /** FNV-1a over namespace, a separator and key. */
  #slot(namespace: string, key: string): number {
    return fnv1a(key, Math.imul(fnv1a(namespace) ^ 0xffff, 0x01000193)) & this.#mask
  }
}
