// The TTL sweeper: removes every expired row in batches, keeps live ones, never blocks the event loop for long.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { Sweeper, type SweepReport } from '../../src/store/sweeper.ts'
import { ManualClock } from '../helpers/clock.ts'

const MiB = 1024 ** 2

async function filled(clock: ManualClock, expired: number, live: number): Promise<SqliteStore> {
  const store = new SqliteStore({ path: ':memory:', maxBytes: 512 * MiB, now: clock.now })
  const value = new Uint8Array(16)
  const batch = (prefix: string, n: number, ttlMs: number) =>
    Array.from({ length: n }, (_, i) => ({
      namespace: 'ns',
      key: `${prefix}${i}`,
      value,
      contentType: 'x/y',
      ttlMs,
    }))
  for (let i = 0; i < expired; i += 10_000) await store.setMany(batch(`old${i}-`, Math.min(10_000, expired - i), 1000))
  await store.setMany(batch('live', live, 60_000))
  clock.advance(1000)
  return store
}

test('one pass removes 100,000 expired rows and keeps the live ones, reporting what it did', async () => {
  const clock = new ManualClock()
  const store = await filled(clock, 100_000, 10)
  const reports: SweepReport[] = []
  const sweeper = new Sweeper({ store, intervalMs: 60_000, onSweep: (r) => reports.push(r) })
  const report = await sweeper.runOnce()
  assert.is(report.removed, 100_000)
  assert.ok(report.durationMs > 0)
  assert.equal(reports, [report])
  assert.is((await store.stats()).entries, 10)
  await sweeper.stop()
  await store.close()
})

test('a sweep yields to the event loop between batches', async () => {
  const clock = new ManualClock()
  const store = await filled(clock, 20_000, 0)
  const sweeper = new Sweeper({ store, intervalMs: 60_000, batchSize: 200 })
  let ticks = 0
  const ticker = setInterval(() => ticks++, 0)
  let longestGapMs = 0
  let last = performance.now()
  const gapTimer = setInterval(() => {
    const now = performance.now()
    longestGapMs = Math.max(longestGapMs, now - last)
    last = now
  }, 0)
  await sweeper.runOnce()
  clearInterval(ticker)
  clearInterval(gapTimer)
  assert.ok(ticks >= 10, `timers ran ${ticks} times during the sweep`)
  // Generous: a shared CI machine may pause the process; what matters is that timers ran between batches.
  assert.ok(longestGapMs < 500, `longest event-loop gap ${longestGapMs.toFixed(1)} ms`)
  await store.close()
})

test('concurrent passes are joined, not doubled; stop ends the timer', async () => {
  const clock = new ManualClock()
  const store = await filled(clock, 1000, 0)
  const sweeper = new Sweeper({ store, intervalMs: 10 })
  const [a, b] = await Promise.all([sweeper.runOnce(), sweeper.runOnce()])
  assert.is(a, b)
  assert.is(a.removed, 1000)
  sweeper.start()
  await sweeper.stop()
  await store.close()
})

test('a failing store is reported, not thrown into the timer', async () => {
  const clock = new ManualClock()
  const store = await filled(clock, 10, 0)
  await store.close()
  const errors: unknown[] = []
  const sweeper = new Sweeper({ store, intervalMs: 60_000, onError: (e) => errors.push(e) })
  const report = await sweeper.runOnce()
  assert.is(report.removed, 0)
  assert.is(errors.length, 1)
})

test.run()
