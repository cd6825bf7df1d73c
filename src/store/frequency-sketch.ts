// How often each key was read lately, approximately, in a fixed amount of memory: a count-min sketch of 4-bit
// counters that halves every counter after a sample of reads, so old popularity fades (TinyLFU, Einziger et al.,
// as Caffeine uses it). A sample is ten reads per entry held: the tier holds 1,000 entries of 16 KiB or 16,000 of
// 1 KiB in the same bytes, and a fixed sample sized for the latter kept yesterday's favourites for 16 times as long.
// It is never shorter than one read per counter of a row, so halving stays O(1) a read (with one hot key held, a
// sample of 640 reads halved 65,536 counters each time: 0.07 µs of every key/value hit). The memory tier asks it whether a newcomer is read more often than the entry it would push
// out, so a loop over a few more keys than fit keeps most of them in memory instead of none (LRU's worst case).

const DEPTH = 4
const MAX_COUNT = 15
const SEEDS = [0x9e3779b1, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f] as const

export class FrequencySketch {
  readonly #counts: Uint8Array
  /** The same counters four at a time, for halving them. */
  readonly #words: Uint32Array
  readonly #shift: number
  #samples = 0

  /** Sized for at most about `entries` distinct keys held at once. */
  constructor(entries: number) {
    let log2 = 10
    while (log2 < 24 && 2 ** log2 < entries) log2++
    this.#counts = new Uint8Array(DEPTH << log2)
    this.#words = new Uint32Array(this.#counts.buffer)
    this.#shift = 32 - log2
  }

  /** Notes one read of the key whose 32-bit hash is `hash`, while `held` entries are held. */
  increment(hash: number, held: number): void {
    const width = this.#counts.length / DEPTH
    for (let row = 0; row < DEPTH; row++) {
      const i = row * width + (Math.imul(hash, SEEDS[row]!) >>> this.#shift)
      if (this.#counts[i]! < MAX_COUNT) this.#counts[i]!++
    }
    // Halving touches every counter: at least one read per counter row between halvings keeps it O(1) a read.
    if (++this.#samples >= Math.max(10 * held, this.#counts.length / DEPTH)) this.#age()
  }

  /** Reads of the key since about one sample ago (never fewer than there were, sometimes more: collisions). */
  estimate(hash: number): number {
    const width = this.#counts.length / DEPTH
    let least = MAX_COUNT
    for (let row = 0; row < DEPTH; row++) {
      const count = this.#counts[row * width + (Math.imul(hash, SEEDS[row]!) >>> this.#shift)]!
      if (count < least) least = count
    }
    return least
  }

  /** Halves every counter: what was popular a sample ago counts half as much now. */
  #age(): void {
    // Four counters a word: shift each byte right by one, dropping the bit that crosses into the next byte.
    const words = this.#words
    for (let i = 0; i < words.length; i++) words[i] = (words[i]! >>> 1) & 0x7f7f7f7f
    this.#samples = 0
  }
}
