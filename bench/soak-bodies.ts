// The soak's deterministic bodies: the origin serves them, and the load generator and the probe compare what they
// receive with them byte for byte (cheaper than hashing each body, and exact).
import { createHash } from 'node:crypto'

const bodies = new Map<number, { body: Buffer; sha: string }>()

/** The origin's body of `size` bytes and its SHA-256 (hex), made once per size. */
export function bodyOf(size: number): { body: Buffer; sha: string } {
  let entry = bodies.get(size)
  if (!entry) {
    const body = Buffer.alloc(size)
    for (let i = 0; i < size; i++) body[i] = (i * 31 + size) & 0xff
    entry = { body, sha: createHash('sha256').update(body).digest('hex') }
    bodies.set(size, entry)
  }
  return entry
}
