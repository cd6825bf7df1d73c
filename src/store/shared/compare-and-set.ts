// Conditional writes in the shared tier: read the current ETag, write only if it is still the one read, and try again
// when another task wrote in between. Mirroring into this task's L1 is the caller's business (tiered/tiered-store.ts).
import { entryWritten } from '../keys.ts'
import { preconditionHolds } from '../precondition.ts'
import { type Entry, OvertakenByPurgeError, type Precondition, type SetInput, StoreBusyError } from '../types.ts'
import { ABSENT, type SharedTier } from './shared-tier.ts'

/** Compare-and-set rounds lost to other writers before giving up with 503. */
const MAX_CAS_ROUNDS = 64

/** A short random pause after losing a compare-and-set round, so contending writers spread out. */
const lostRound = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 2))

const LOST = Symbol('lost a compare-and-set round')

/** Runs `round` until it does not lose to another writer; 503 (StoreBusyError) after MAX_CAS_ROUNDS losses. */
async function untilWon<T>(key: string, round: () => Promise<T | typeof LOST>): Promise<T> {
  for (let lost = 0; lost < MAX_CAS_ROUNDS; lost++) {
    const result = await round()
    if (result !== LOST) return result
    await lostRound()
  }
  throw new StoreBusyError(`too many concurrent writers on ${JSON.stringify(key)} in the shared tier`)
}

export type SharedSetResult =
  | { readonly status: 'created' | 'replaced'; readonly entry: Entry }
  | { readonly status: 'precondition-failed' }

/** Writes `input` in the shared tier, honouring `precondition` against the shared copy. Throws when a purge overtook it. */
export function setShared(
  shared: SharedTier,
  input: SetInput,
  precondition: Precondition | undefined,
  now: () => number,
): Promise<SharedSetResult> {
  return untilWon(input.key, async () => {
    // Without a precondition one round trip does it; with one, read the current ETag and compare-and-set on it.
    const current = precondition ? await shared.read(input.namespace, input.key, now()) : undefined
    if (precondition && !preconditionHolds(precondition, current?.etag)) return { status: 'precondition-failed' }
    const entry = entryWritten(input, now())
    const expected = precondition ? (current?.etag ?? ABSENT) : ''
    const written = await shared.write(entry, expected, now(), input.unlessPurgedSince)
    if (written === 'overtaken') throw new OvertakenByPurgeError()
    if (written === 'not-written') return LOST
    return { status: written, entry }
  })
}

export type SharedUpdateResult =
  | { readonly status: 'updated' | 'unchanged'; readonly entry: Entry }
  | { readonly status: 'precondition-failed' }
  | { readonly status: 'absent' }

/** Rewrites the shared copy with what `mutate` makes of it; `absent` when the shared tier holds no live copy. */
export function updateShared(
  shared: SharedTier,
  namespace: string,
  key: string,
  mutate: (current: Entry) => Omit<SetInput, 'namespace' | 'key'> | undefined,
  precondition: Precondition | undefined,
  now: () => number,
): Promise<SharedUpdateResult> {
  return untilWon(key, async () => {
    const current = await shared.read(namespace, key, now())
    if (!current) return { status: 'absent' }
    if (!preconditionHolds(precondition, current.etag)) return { status: 'precondition-failed' }
    const next = mutate(current)
    if (!next) return { status: 'unchanged', entry: current }
    const entry = entryWritten({ ...next, namespace, key }, now())
    if ((await shared.write(entry, current.etag, now())) === 'not-written') return LOST
    return { status: 'updated', entry }
  })
}
