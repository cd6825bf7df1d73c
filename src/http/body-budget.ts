// Request bodies held in memory, all clients together, stay within a budget. Routes read bodies whole (a value is
// hashed and written, JSON is parsed), so ten concurrent 8 MB PUTs held 80-160 MB at once on top of everything else;
// a body that does not fit waits, unread, until earlier ones are done (the client meets TCP backpressure, and Node's
// request timeout still bounds the wait). Small bodies never wait: they are most requests, and their total is bounded
// by the connections that carry them.
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Bodies up to this size (declared) do not count against the budget. */
export const SMALL_BODY_BYTES = 64 * 1024

export class BodyBudget {
  readonly #total: number
  #free: number
  readonly #waiting: { bytes: number; grant: () => void }[] = []

  constructor(total: number) {
    this.#total = total
    this.#free = total
  }

  /** Bytes taken by bodies being read or handled now. */
  get taken(): number {
    return this.#total - this.#free
  }

  /**
   * Takes `bytes` (at most the whole budget) once every earlier waiter has been served and there is room; resolves to
   * the function that gives them back. `cancelled` resolving while this still waits withdraws it.
   */
  take(bytes: number, cancelled?: Promise<unknown>): Promise<(() => void) | undefined> {
    const want = Math.min(bytes, this.#total)
    if (this.#waiting.length === 0 && want <= this.#free) return Promise.resolve(this.#grant(want))
    return new Promise((resolve) => {
      const waiter = { bytes: want, grant: () => resolve(this.#grant(want)) }
      this.#waiting.push(waiter)
      void cancelled?.then(() => {
        const at = this.#waiting.indexOf(waiter)
        if (at === -1) return
        this.#waiting.splice(at, 1)
        resolve(undefined)
        this.#serveWaiting() // a large waiter leaving may let smaller ones behind it in
      })
    })
  }

  /** Takes `bytes` now if there is room and nobody waits before it; undefined otherwise (the caller does without). */
  tryTake(bytes: number): (() => void) | undefined {
    return this.#waiting.length === 0 && bytes <= this.#free ? this.#grant(bytes) : undefined
  }

  #grant(bytes: number): () => void {
    this.#free -= bytes
    let given = false
    return () => {
      if (given) return
      given = true
      this.#free += bytes
      this.#serveWaiting()
    }
  }

  #serveWaiting(): void {
    while (this.#waiting.length > 0 && this.#waiting[0]!.bytes <= this.#free) this.#waiting.shift()!.grant()
  }
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void

/**
 * Runs `listener` for a request once its body has room in `budget`, and gives the room back when the response is
 * done (the body is held until then: hashed, written, parsed). A body without a declared length (chunked) counts as
 * `largestBody`, the most any route reads; one declared larger is refused by its route without being read.
 */
export function withinBodyBudget(listener: Listener, budget: BodyBudget, largestBody: number): Listener {
  return function waitForRoom(req, res) {
    const declared = req.headers['content-length']
    const bytes =
      declared !== undefined ? Number(declared) : req.headers['transfer-encoding'] !== undefined ? largestBody : 0
    if (!(bytes > SMALL_BODY_BYTES && bytes <= largestBody)) {
      listener(req, res)
      return
    }
    const gone = new Promise((resolve) => res.once('close', resolve))
    void budget.take(bytes, gone).then((release) => {
      if (!release) return // the client left while waiting
      if (res.closed) {
        release() // it left just as its turn came
        return
      }
      res.once('close', release)
      listener(req, res)
    })
  }
}
