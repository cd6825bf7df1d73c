// A model-based property test (fast-check): random sequences of set/get/touch/incr/delete/clock moves run against
// each store and a plain Map. No read may return an entry past its expiry; concurrent increments never get lost.
import fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HotTier } from '../../src/store/hot-tier.ts'
import { MemoryStore } from '../../src/store/memory-store.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import type { Store } from '../../src/store/types.ts'
import { ManualClock } from '../helpers/clock.ts'
import { startRedis } from '../helpers/redis.ts'
import { tieredOverRedis } from '../helpers/tiered.ts'

const MiB = 1024 ** 2
const NS = 'model'
const RUNS = Number(process.env.MODEL_RUNS ?? 150)

type Step =
  | { op: 'set'; key: string; value: string; ttlS: number }
  | { op: 'get'; key: string }
  | { op: 'touch'; key: string; ttlS: number }
  | { op: 'incr'; key: string; by: number; ttlS: number; concurrent: number }
  | { op: 'delete'; key: string }
  | { op: 'advance'; ms: number }

const valueKey = fc.constantFrom('k0', 'k1', 'k2')
const counterKey = fc.constantFrom('c0', 'c1')
const anyKey = fc.constantFrom('k0', 'k1', 'k2', 'c0', 'c1')
// Short TTLs and clock moves of whole seconds hit expiry boundaries exactly, where off-by-one bugs live.
const ttlS = fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 1, max: 30 }))
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key: valueKey, value: fc.string({ maxLength: 20 }), ttlS }),
  fc.record({ op: fc.constant('get' as const), key: anyKey }),
  fc.record({ op: fc.constant('touch' as const), key: anyKey, ttlS }),
  fc.record({
    op: fc.constant('incr' as const),
    key: counterKey,
    by: fc.integer({ min: -3, max: 5 }),
    ttlS,
    concurrent: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({ op: fc.constant('delete' as const), key: anyKey }),
  fc.record({
    op: fc.constant('advance' as const),
    ms: fc.oneof(fc.integer({ min: 0, max: 40_000 }), fc.constantFrom(999, 1000, 1001, 2000)),
  }),
)

interface Modelled {
  value: string
  expiresAt: number
}

async function check(makeStore: (clock: ManualClock) => Store | Promise<Store>, steps: Step[]): Promise<void> {
  const clock = new ManualClock()
  const store = await makeStore(clock)
  const model = new Map<string, Modelled>()
  const live = (key: string) => {
    const entry = model.get(key)
    return entry && entry.expiresAt > clock.now() ? entry : undefined
  }
  try {
    for (const s of steps) {
      const now = clock.now()
      switch (s.op) {
        case 'set':
          await store.set({
            namespace: NS,
            key: s.key,
            value: Buffer.from(s.value),
            contentType: 'text/plain',
            ttlMs: s.ttlS * 1000,
          })
          model.set(s.key, { value: s.value, expiresAt: now + s.ttlS * 1000 })
          break
        case 'get': {
          const entry = await store.get(NS, s.key)
          const expected = live(s.key)
          if (entry) assert.ok(entry.expiresAt > now, `read ${s.key} past its expiry`)
          assert.is(
            entry === undefined ? undefined : Buffer.from(entry.value).toString(),
            expected?.value,
            `get ${s.key}`,
          )
          break
        }
        case 'touch': {
          const result = await store.update(NS, s.key, (current) => ({
            value: current.value,
            contentType: current.contentType,
            ttlMs: s.ttlS * 1000,
          }))
          const expected = live(s.key)
          assert.is(result.status === 'not-found', expected === undefined, `touch ${s.key}: ${result.status}`)
          if (expected) expected.expiresAt = now + s.ttlS * 1000
          break
        }
        case 'incr': {
          const results = await Promise.all(
            Array.from({ length: s.concurrent }, () => store.incr(NS, s.key, s.by, s.ttlS * 1000)),
          )
          const before = live(s.key)
          const start = before ? Number(before.value) : 0
          // Concurrent increments apply one after another: each sees the ones before it, none is lost.
          const seen = results.map((r) => (r.status === 'ok' ? r.value : NaN)).sort((a, b) => a - b)
          const expected = Array.from({ length: s.concurrent }, (_, i) => start + s.by * (i + 1)).sort((a, b) => a - b)
          assert.equal(seen, expected, `incr ${s.key} by ${s.by} × ${s.concurrent}`)
          model.set(s.key, {
            value: String(start + s.by * s.concurrent),
            expiresAt: before ? before.expiresAt : now + s.ttlS * 1000,
          })
          break
        }
        case 'delete': {
          const result = await store.delete(NS, s.key)
          assert.is(result === 'deleted', live(s.key) !== undefined, `delete ${s.key}: ${result}`)
          model.delete(s.key)
          break
        }
        case 'advance':
          clock.advance(s.ms)
          break
      }
    }
    // Finally every key agrees with the model.
    for (const key of ['k0', 'k1', 'k2', 'c0', 'c1']) {
      const entry = await store.get(NS, key)
      assert.is(entry === undefined ? undefined : Buffer.from(entry.value).toString(), live(key)?.value, `final ${key}`)
    }
  } finally {
    await store.close()
  }
}

const stores: [string, (clock: ManualClock) => Store | Promise<Store>][] = [
  ['MemoryStore', (clock) => new MemoryStore({ maxBytes: 64 * MiB, now: clock.now })],
  ['SqliteStore', (clock) => new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, now: clock.now })],
  [
    'HotTier over SqliteStore (as served)',
    (clock) =>
      new HotTier(new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, now: clock.now }), {
        maxBytes: MiB,
        maxEntryBytes: 64 * 1024,
        now: clock.now,
      }),
  ],
]

// The shared tier over a real redis-server, in both roles.
const redis = await startRedis()
for (const role of ['near', 'authoritative'] as const) {
  stores.push([
    `TieredStore (${role}) over MemoryStore + redis-server`,
    (clock) => tieredOverRedis(redis, role, clock.now),
  ])
}

for (const [name, makeStore] of stores) {
  test(`${name}: no read past expiry, no lost increment, over random command sequences`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => check(makeStore, steps)),
      { numRuns: RUNS },
    )
  })
}

test.run()
