// Response bodies held in memory while they are collected for the cache, all fills together, stay within a budget.
// Each fill holds up to the object size limit (8 MiB by default) until it is stored, and an upstream pool runs 64
// of them at once: 512 MiB from a few dozen requests for distinct large URLs, the whole of a 512 MB container. A fill
// without room is answered as it streams and not stored; small bodies never count (their total is bounded by the
// connections that carry them).
import { type BodyBudget, SMALL_BODY_BYTES } from '../../http/body-budget.ts'

/** How much more a fill of unknown length takes at a time, so a chunked body does not ask for every chunk. */
const STEP_BYTES = 1024 ** 2

/** The bytes one fill holds of the budget, grown as its body arrives; given back once, when the fill is done. */
export class FillHold {
  readonly #budget: BodyBudget | undefined
  readonly #releases: (() => void)[] = []
  #held = 0

  /** Without a budget every size is covered. */
  constructor(budget: BodyBudget | undefined) {
    this.#budget = budget
  }

  /**
   * Whether `size` bytes in all may be held: true when they are (or are small), false when there is no room. A body
   * still `growing` (unknown length) takes a step ahead when there is room for it.
   */
  cover(size: number, growing = false): boolean {
    if (!this.#budget || size <= SMALL_BODY_BYTES || size <= this.#held) return true
    const needed = size - this.#held
    for (const more of growing ? [Math.max(needed, STEP_BYTES), needed] : [needed]) {
      const release = this.#budget.tryTake(more)
      if (!release) continue
      this.#releases.push(release)
      this.#held += more
      return true
    }
    return false
  }

  /** What gather() asks as a body arrives: room for its declared length, or for what has come so far. */
  roomFor(declaredLength: number | undefined): (size: number) => boolean {
    return (size) => this.cover(declaredLength ?? size, declaredLength === undefined)
  }

  release(): void {
    for (const release of this.#releases.splice(0)) release()
    this.#held = 0
  }
}
