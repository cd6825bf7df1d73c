// The in-memory hot tier: serves repeated reads from memory and never serves a value a write replaced.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HotTier } from '../../src/store/hot-tier.ts'
import { MemoryStore } from '../../src/store/memory-store.ts'
import type { Entry, SetInput } from '../../src/store/types.ts'
import { ManualClock } from '../helpers/clock.ts'

const input = (key: string, value: string, extra: Partial<SetInput> = {}): SetInput => ({
  namespace: 'ns',
  key,
  value: Buffer.from(value),
  contentType: 'text/plain',
  ttlMs: 60_000,
  ...extra,
})
const text = (entry: Entry | undefined) => (entry ? Buffer.from(entry.value).toString() : undefined)
/** Reads twice: a value enters memory on its second read. */
const warm = async (hot: HotTier, key: string) => {
  await hot.get('ns', key)
  await hot.get('ns', key)
}

class CountingStore extends MemoryStore {
  reads = 0
  override get(namespace: string, key: string): Promise<Entry | undefined> {
    this.reads++
    return super.get(namespace, key)
  }
}

test('from its second read on, a value is served from memory, the same buffer each time', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1e6, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 1e6, maxEntryBytes: 1e5, now: clock.now })
  await hot.set(input('k', 'v'))
  await hot.get('ns', 'k')
  const second = await hot.get('ns', 'k')
  const third = await hot.get('ns', 'k')
  const fourth = await hot.get('ns', 'k')
  assert.is(inner.reads, 2)
  assert.is(second?.value, third?.value)
  assert.is(third?.value, fourth?.value)
})

test('keys read once never push out the keys read again and again', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1e7, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 64 * 1024, maxEntryBytes: 4096, now: clock.now })
  for (let i = 0; i < 8; i++) await hot.set(input(`hot${i}`, 'x'.repeat(1024)))
  for (let i = 0; i < 8; i++) for (let read = 0; read < 2; read++) await hot.get('ns', `hot${i}`)
  // A scan: 20 times the tier's size, each key read once (a crawler, a batch job, random reads over a large cache).
  for (let i = 0; i < 1280; i++) await inner.set(input(`cold${i}`, 'x'.repeat(1024)))
  for (let i = 0; i < 1280; i++) await hot.get('ns', `cold${i}`)
  inner.reads = 0
  for (let i = 0; i < 8; i++) await hot.get('ns', `hot${i}`)
  assert.is(inner.reads, 0, 'every hot key is still in memory')
})

test('every key read in a repeating cycle ends up in memory, none is starved by another', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1e8, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 16 * 1024 ** 2, maxEntryBytes: 4096, now: clock.now })
  for (let i = 0; i < 10_000; i++) await inner.set(input(`k${i}`, 'v'))
  for (let pass = 0; pass < 2; pass++) for (let i = 0; i < 10_000; i++) await hot.get('ns', `k${i}`)
  inner.reads = 0
  for (let i = 0; i < 10_000; i++) await hot.get('ns', `k${i}`)
  assert.is(inner.reads, 0)
})

test('peek answers at once from memory what get() answers, and nothing the tier does not hold', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1024 ** 2, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 64 * 1024, maxEntryBytes: 4096, now: clock.now })
  await hot.set(input('k', 'v'))
  assert.is(hot.peek('ns', 'k'), undefined, 'not in memory before its second read')
  await warm(hot, 'k')
  const reads = inner.reads
  assert.is(text(hot.peek('ns', 'k')), 'v')
  assert.is(inner.reads, reads, 'answered from memory')
  assert.is(hot.peek('ns', 'other'), undefined)
})

test('a hot entry stops being served at its expiry', async () => {
  const clock = new ManualClock()
  const hot = new HotTier(new MemoryStore({ maxBytes: 1e6, now: clock.now }), {
    maxBytes: 1e6,
    maxEntryBytes: 1e5,
    now: clock.now,
  })
  await hot.set(input('k', 'v', { ttlMs: 1000 }))
  assert.ok(await hot.get('ns', 'k'))
  clock.advance(1000)
  assert.is(await hot.get('ns', 'k'), undefined)
})

test('writes, increments, deletes and purges are seen at once', async () => {
  const clock = new ManualClock()
  const hot = new HotTier(new MemoryStore({ maxBytes: 1e6, now: clock.now }), {
    maxBytes: 1e6,
    maxEntryBytes: 1e5,
    now: clock.now,
  })
  await hot.set(input('k', '1'))
  await warm(hot, 'k')
  await hot.set(input('k', '2'))
  assert.is(text(await hot.get('ns', 'k')), '2')
  await warm(hot, 'k')
  await hot.incr('ns', 'k', 5, 1000)
  assert.is(text(await hot.get('ns', 'k')), '7')
  await warm(hot, 'k')
  await hot.delete('ns', 'k')
  assert.is(await hot.get('ns', 'k'), undefined)
  await hot.set(input('p:1', 'v'))
  await hot.set(input('t', 'v', { tags: ['x'] }))
  await warm(hot, 'p:1')
  await warm(hot, 't')
  await hot.deletePrefix('ns', 'p:')
  await hot.deleteTags(['x'])
  assert.is(await hot.get('ns', 'p:1'), undefined)
  assert.is(await hot.get('ns', 't'), undefined)
})

test('a read that overlaps a write never caches the old value', async () => {
  const clock = new ManualClock()
  let release: () => void = () => {}
  class SlowReads extends MemoryStore {
    override async get(namespace: string, key: string): Promise<Entry | undefined> {
      const entry = await super.get(namespace, key)
      await new Promise<void>((resolve) => {
        release = resolve
      })
      return entry
    }
  }
  const inner = new SlowReads({ maxBytes: 1e6, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 1e6, maxEntryBytes: 1e5, now: clock.now })
  await inner.set(input('k', 'old'))
  const once = hot.get('ns', 'k') // read once before, so the overlapping read is the one that would admit the value
  await new Promise((r) => setImmediate(r))
  release()
  await once
  const reading = hot.get('ns', 'k')
  await new Promise((r) => setImmediate(r))
  await hot.set(input('k', 'new'))
  release()
  assert.is(text(await reading), 'old', 'the overlapping read saw the old value')
  const next = hot.get('ns', 'k')
  await new Promise((r) => setImmediate(r))
  release()
  assert.is(text(await next), 'new', 'but did not cache it')
})

test('memory stays within its budget and large values are not kept', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1e7, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 1000, maxEntryBytes: 400, now: clock.now })
  await hot.set(input('big', 'x'.repeat(500)))
  for (let read = 0; read < 3; read++) await hot.get('ns', 'big')
  assert.is(inner.reads, 3, 'a value over maxEntryBytes is read from the inner store each time')
  for (let i = 0; i < 5; i++) {
    await hot.set(input(`k${i}`, 'x'.repeat(300)))
    await hot.get('ns', `k${i}`)
    await hot.get('ns', `k${i}`)
    // Once the tier is full, a newcomer enters only when read more often than what it pushes out.
    if (i >= 3) await hot.get('ns', `k${i}`)
  }
  inner.reads = 0
  await hot.get('ns', 'k4')
  await hot.get('ns', 'k3')
  await hot.get('ns', 'k2')
  assert.is(inner.reads, 0, 'the three most recent fit in 1000 bytes')
  await hot.get('ns', 'k0')
  assert.is(inner.reads, 1, 'the oldest was dropped')
})

test('a loop over more keys than fit keeps most of them in memory (LRU alone would keep none)', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1e7, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 100 * 100, maxEntryBytes: 1000, now: clock.now })
  const keys = Array.from({ length: 110 }, (_, i) => `loop${i}`)
  for (const key of keys) await hot.set(input(key, 'x'.repeat(100 - key.length)))
  for (let cycle = 0; cycle < 5; cycle++) for (const key of keys) await hot.get('ns', key)
  inner.reads = 0
  for (let cycle = 0; cycle < 5; cycle++) for (const key of keys) await hot.get('ns', key)
  // Each entry's size counts its key: about 95 of the 110 fit.
  assert.ok(inner.reads <= 0.2 * 5 * keys.length, `${inner.reads} of ${5 * keys.length} reads went below`)
})

test('a newcomer read more often than the entry it would push out enters; old popularity fades', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1e7, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 700, maxEntryBytes: 400, now: clock.now })
  for (const key of ['a', 'b', 'c']) await hot.set(input(key, 'x'.repeat(300)))
  for (let read = 0; read < 15; read++) await hot.get('ns', 'a')
  for (let read = 0; read < 15; read++) await hot.get('ns', 'b')
  for (let read = 0; read < 3; read++) await hot.get('ns', 'c')
  assert.is(hot.peek('ns', 'c'), undefined, 'c, read 3 times, does not push out a, read 15 times')
  // Reads age the counts (halved every ten reads per entry held, and at least once per counter of a row: 1,024 here):
  // 5,000 reads of b later, a's fifteen reads are history, and c, read again, takes a's place.
  for (let read = 0; read < 5_000; read++) hot.peek('ns', 'b')
  await hot.get('ns', 'c')
  assert.ok(hot.peek('ns', 'c'), 'c is in memory')
  assert.is(hot.peek('ns', 'a'), undefined, 'a left to make room')
  assert.ok(hot.peek('ns', 'b'), 'b, read all along, stays')
})

test('a new working set takes the tier from the old one within a few dozen passes', async () => {
  const clock = new ManualClock()
  const inner = new CountingStore({ maxBytes: 1e7, now: clock.now })
  const hot = new HotTier(inner, { maxBytes: 100 * 100, maxEntryBytes: 1000, now: clock.now })
  const old = Array.from({ length: 90 }, (_, i) => `old${i}`)
  const next = Array.from({ length: 90 }, (_, i) => `new${i}`)
  for (const key of [...old, ...next]) await hot.set(input(key, 'x'.repeat(100 - key.length)))
  for (let pass = 0; pass < 15; pass++) for (const key of old) await hot.get('ns', key)
  for (let pass = 0; pass < 30; pass++) for (const key of next) await hot.get('ns', key)
  inner.reads = 0
  for (let pass = 0; pass < 5; pass++) for (const key of next) await hot.get('ns', key)
  assert.ok(inner.reads <= 0.2 * 5 * next.length, `${inner.reads} of ${5 * next.length} reads went below`)
})

test.run()
