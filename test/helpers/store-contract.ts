// The behaviour every Store implementation must show; run once per implementation by store-*.test.ts.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readMany, type SetInput, type Store } from '../../src/store/types.ts'
import { ManualClock } from './clock.ts'

export type StoreFactory = (clock: ManualClock) => Store | Promise<Store>

const text = (s: string) => Buffer.from(s)
const input = (key: string, value: string, extra: Partial<SetInput> = {}): SetInput => ({
  namespace: 'ns',
  key,
  value: text(value),
  contentType: 'text/plain',
  ttlMs: 60_000,
  ...extra,
})
const decode = (value: Uint8Array | undefined) => (value ? Buffer.from(value).toString() : undefined)

export interface ContractOptions {
  /** False for stores whose expiry is the engine's own (authoritative shared tier): no local sweep to count. */
  readonly localSweep?: boolean
}

export function storeContract(name: string, create: StoreFactory, options: ContractOptions = {}): void {
  const test = suite<{ store: Store; clock: ManualClock }>(`store contract: ${name}`)
  test.before.each(async (context) => {
    context.clock = new ManualClock()
    context.store = await create(context.clock)
  })
  test.after.each(async ({ store }) => {
    await store.close()
  })

  test('a value reads back with its bytes, content type, tags and expiry', async ({ store, clock }) => {
    const value = new Uint8Array([0, 255, 1, 254])
    const result = await store.set({
      ...input('k', ''),
      value,
      contentType: 'application/octet-stream',
      tags: ['a', 'b'],
    })
    assert.is(result.status, 'created')
    const entry = await store.get('ns', 'k')
    assert.ok(entry)
    assert.equal([...entry.value], [0, 255, 1, 254])
    assert.is(entry.contentType, 'application/octet-stream')
    assert.equal(entry.tags, ['a', 'b'])
    assert.is(entry.size, 4)
    assert.is(entry.writtenAt, clock.now())
    assert.is(entry.expiresAt, clock.now() + 60_000)
    if (result.status !== 'precondition-failed') assert.is(entry.etag, result.etag)
  })

  test('peek, where a store has it, answers only what get() would: never a replaced, deleted or expired value', async ({
    store,
    clock,
  }) => {
    const peek = (key: string) => decode(store.peek?.('ns', key)?.value)
    const warmed = async (key: string) => {
      // A memory tier admits a value on its second read.
      await store.get('ns', key)
      await store.get('ns', key)
      return peek(key)
    }
    await store.set({ ...input('k', 'one'), ttlMs: 10_000 })
    assert.ok([undefined, 'one'].includes(await warmed('k')))
    await store.set({ ...input('k', 'two'), ttlMs: 10_000 })
    assert.ok([undefined, 'two'].includes(peek('k')), 'not the replaced value')
    assert.ok([undefined, 'two'].includes(await warmed('k')))
    await store.delete('ns', 'k')
    assert.is(peek('k'), undefined, 'not a deleted value')
    await store.set({ ...input('k', 'three'), ttlMs: 10_000 })
    await warmed('k')
    clock.advance(10_000)
    assert.is(peek('k'), undefined, 'not an expired value')
    assert.is(peek('never-written'), undefined)
  })

  test('keys are scoped by namespace', async ({ store }) => {
    await store.set(input('k', 'one'))
    await store.set({ ...input('k', 'two'), namespace: 'other' })
    assert.is(decode((await store.get('ns', 'k'))?.value), 'one')
    assert.is(decode((await store.get('other', 'k'))?.value), 'two')
  })

  test('a second write replaces the value and reports it', async ({ store }) => {
    await store.set(input('k', 'one'))
    const result = await store.set(input('k', 'two'))
    assert.is(result.status, 'replaced')
    assert.is(decode((await store.get('ns', 'k'))?.value), 'two')
  })

  test('ETags are strong, derived from the bytes: equal bytes, equal tag', async ({ store }) => {
    const a = await store.set(input('a', 'same'))
    const b = await store.set(input('b', 'same'))
    const c = await store.set(input('c', 'different'))
    assert.ok(
      a.status !== 'precondition-failed' && b.status !== 'precondition-failed' && c.status !== 'precondition-failed',
    )
    assert.match(a.etag, /^"[^"]+"$/)
    assert.is(a.etag, b.etag)
    assert.is.not(a.etag, c.etag)
  })

  test('an entry is invisible from its expiry on, before any sweep', async ({ store, clock }) => {
    await store.set(input('k', 'v', { ttlMs: 1000 }))
    clock.advance(999)
    assert.ok(await store.get('ns', 'k'))
    clock.advance(1)
    assert.is(await store.get('ns', 'k'), undefined)
    assert.equal(await readMany(store, 'ns', ['k']), [undefined])
    assert.equal(await store.list('ns', { prefix: '', limit: 10 }), [])
  })

  test('If-Match: the write lands only on a matching ETag', async ({ store }) => {
    const first = await store.set(input('k', 'one'))
    assert.ok(first.status === 'created')
    assert.is((await store.set(input('k', 'x'), { ifMatch: ['"nope"'] })).status, 'precondition-failed')
    assert.is(decode((await store.get('ns', 'k'))?.value), 'one')
    assert.is((await store.set(input('k', 'two'), { ifMatch: ['"nope"', first.etag] })).status, 'replaced')
    assert.is((await store.set(input('k', 'three'), { ifMatch: ['*'] })).status, 'replaced')
    assert.is((await store.set(input('missing', 'x'), { ifMatch: ['*'] })).status, 'precondition-failed')
    assert.is(await store.get('ns', 'missing'), undefined)
  })

  test('If-Match never matches a weak ETag', async ({ store }) => {
    const first = await store.set(input('k', 'one'))
    assert.ok(first.status === 'created')
    assert.is((await store.set(input('k', 'x'), { ifMatch: [`W/${first.etag}`] })).status, 'precondition-failed')
  })

  test('If-None-Match: * creates only; an expired entry counts as absent', async ({ store, clock }) => {
    assert.is((await store.set(input('k', 'one', { ttlMs: 1000 }), { ifNoneMatchAny: true })).status, 'created')
    assert.is((await store.set(input('k', 'two'), { ifNoneMatchAny: true })).status, 'precondition-failed')
    clock.advance(1000)
    assert.is((await store.set(input('k', 'three'), { ifNoneMatchAny: true })).status, 'created')
    assert.is(decode((await store.get('ns', 'k'))?.value), 'three')
  })

  test('delete removes one key, honours If-Match and reports a missing key', async ({ store }) => {
    const set = await store.set(input('k', 'v'))
    assert.ok(set.status === 'created')
    assert.is(await store.delete('ns', 'k', { ifMatch: ['"other"'] }), 'precondition-failed')
    assert.is(await store.delete('ns', 'k', { ifMatch: [set.etag] }), 'deleted')
    assert.is(await store.get('ns', 'k'), undefined)
    assert.is(await store.delete('ns', 'k'), 'not-found')
  })

  test('deletePrefix purges exactly the keys with that prefix in that namespace', async ({ store }) => {
    for (const key of ['user:1', 'user:2', 'user:10', 'users', 'use', 'user%', 'user_x', 'admin:1']) {
      await store.set(input(key, 'v'))
    }
    await store.set({ ...input('user:1', 'v'), namespace: 'other' })
    assert.is(await store.deletePrefix('ns', 'user:'), 3)
    const left = (await store.list('ns', { prefix: '', limit: 100 })).map((e) => e.key)
    assert.equal(left, ['admin:1', 'use', 'user%', 'user_x', 'users'])
    assert.ok(await store.get('other', 'user:1'))
    assert.is(await store.deletePrefix('ns', ''), 5)
  })

  test('a purge removes writes issued before it, even ones not yet committed', async ({ store }) => {
    // A response is stored as it is served; a purge the client sends next must not run ahead of that write.
    const writes = [store.set(input('p/1', 'one')), store.set(input('q/1', 'two', { tags: ['t'] }))]
    const [byPrefix, byTag] = await Promise.all([store.deletePrefix('ns', 'p/'), store.deleteTags(['t'])])
    await Promise.all(writes)
    assert.equal([byPrefix, byTag], [1, 1])
    assert.is(await store.get('ns', 'p/1'), undefined)
    assert.is(await store.get('ns', 'q/1'), undefined)
  })

  test('deleteTags purges every entry carrying one of the tags, across namespaces', async ({ store }) => {
    await store.set(input('a', 'v', { tags: ['red'] }))
    await store.set(input('b', 'v', { tags: ['red', 'blue'] }))
    await store.set({ ...input('c', 'v', { tags: ['red'] }), namespace: 'other' })
    await store.set(input('d', 'v', { tags: ['green'] }))
    await store.set(input('e', 'v'))
    assert.is(await store.deleteTags(['red', 'nothing']), 3)
    assert.is(await store.get('ns', 'a'), undefined)
    assert.is(await store.get('other', 'c'), undefined)
    assert.ok(await store.get('ns', 'd'))
    assert.ok(await store.get('ns', 'e'))
  })

  test('replacing an entry replaces its tags', async ({ store }) => {
    await store.set(input('k', 'one', { tags: ['old'] }))
    await store.set(input('k', 'two', { tags: ['new'] }))
    assert.is(await store.deleteTags(['old']), 0)
    assert.ok(await store.get('ns', 'k'))
    assert.is(await store.deleteTags(['new']), 1)
  })

  test("an expired entry's tags do not stick to the entry that replaces it", async ({ store, clock }) => {
    await store.set(input('k', 'one', { ttlMs: 1000, tags: ['old'] }))
    clock.advance(1000)
    await store.set(input('k', 'two'))
    assert.is(await store.deleteTags(['old']), 0)
    assert.is(decode((await store.get('ns', 'k'))?.value), 'two')
    await store.set(input('k', 'three', { ttlMs: 1000, tags: ['old2'] }))
    clock.advance(1000)
    await store.incr('ns', 'k', 1, 1000)
    assert.is(await store.deleteTags(['old2']), 0)
    assert.is(decode((await store.get('ns', 'k'))?.value), '1')
  })

  test('incr creates a counter, adds to it and keeps its first expiry', async ({ store, clock }) => {
    const first = await store.incr('ns', 'hits', 1, 10_000)
    assert.equal(first.status === 'ok' && [first.value, first.expiresAt], [1, clock.now() + 10_000])
    clock.advance(5000)
    const second = await store.incr('ns', 'hits', 41, 10_000)
    assert.equal(second.status === 'ok' && [second.value, second.expiresAt], [42, clock.now() + 5000])
    assert.is(decode((await store.get('ns', 'hits'))?.value), '42')
    const down = await store.incr('ns', 'hits', -50, 10_000)
    assert.is(down.status === 'ok' && down.value, -8)
    clock.advance(5000)
    const fresh = await store.incr('ns', 'hits', 1, 10_000)
    assert.is(fresh.status === 'ok' && fresh.value, 1)
  })

  test('incr refuses a value that is not a counter, and overflow', async ({ store }) => {
    await store.set(input('text', 'hello'))
    assert.is((await store.incr('ns', 'text', 1, 1000)).status, 'not-a-counter')
    assert.is(decode((await store.get('ns', 'text'))?.value), 'hello')
    await store.set(input('big', String(Number.MAX_SAFE_INTEGER)))
    assert.is((await store.incr('ns', 'big', 1, 1000)).status, 'overflow')
  })

  test('many concurrent increments are all counted', async ({ store }) => {
    await Promise.all(Array.from({ length: 500 }, () => store.incr('ns', 'n', 1, 60_000)))
    assert.is(decode((await store.get('ns', 'n'))?.value), '500')
  })

  test('list pages through keys in order, with a prefix', async ({ store }) => {
    for (const key of ['b', 'a', 'c/1', 'c/2', 'c/3', 'd']) await store.set(input(key, key + key))
    const page1 = await store.list('ns', { prefix: 'c/', limit: 2 })
    assert.equal(
      page1.map((e) => e.key),
      ['c/1', 'c/2'],
    )
    assert.is(page1[0]?.size, 6)
    const page2 = await store.list('ns', { prefix: 'c/', limit: 2, after: 'c/2' })
    assert.equal(
      page2.map((e) => e.key),
      ['c/3'],
    )
    assert.equal(
      (await store.list('ns', { prefix: '', limit: 10 })).map((e) => e.key),
      ['a', 'b', 'c/1', 'c/2', 'c/3', 'd'],
    )
  })

  test('setMany writes all entries; getMany reads them in order', async ({ store }) => {
    const written = await store.setMany([input('x', '1'), input('y', '2')])
    assert.is(written.length, 2)
    const read = await readMany(store, 'ns', ['y', 'missing', 'x'])
    assert.equal(
      read.map((e) => decode(e?.value)),
      ['2', undefined, '1'],
    )
  })

  if (options.localSweep !== false)
    test('sweepExpired removes expired entries in batches and leaves live ones', async ({ store, clock }) => {
      for (let i = 0; i < 25; i++) await store.set(input(`old${i}`, 'v', { ttlMs: 1000 }))
      await store.set(input('live', 'v', { ttlMs: 5000 }))
      clock.advance(1000)
      const first = await store.sweepExpired(10)
      assert.equal(first, { removed: 10, more: true })
      let total = first.removed
      for (let r = await store.sweepExpired(10); ; r = await store.sweepExpired(10)) {
        total += r.removed
        if (!r.more) break
      }
      assert.is(total, 25)
      assert.is((await store.stats()).entries, 1)
      assert.ok(await store.get('ns', 'live'))
    })

  test('rename moves a live entry atomically, keeping value, tags and expiry', async ({ store, clock }) => {
    await store.set(input('old', 'v', { tags: ['t'], ttlMs: 5000 }))
    const before = await store.get('ns', 'old')
    assert.is(await store.rename('ns', 'old', 'new'), true)
    assert.is(await store.get('ns', 'old'), undefined)
    const after = await store.get('ns', 'new')
    assert.equal([decode(after?.value), after?.expiresAt, after?.etag], ['v', before?.expiresAt, before?.etag])
    assert.is(await store.rename('ns', 'missing', 'x'), false)
    await store.set(input('taken', 'w'))
    assert.is(await store.rename('ns', 'new', 'taken'), false, 'never overwrites a live entry')
    assert.is(decode((await store.get('ns', 'taken'))?.value), 'w')
    assert.is(await store.deleteTags(['t']), 1, 'tags moved with it')
    await store.set(input('gone', 'v', { ttlMs: 1000 }))
    clock.advance(1000)
    assert.is(await store.rename('ns', 'gone', 'revived'), false, 'an expired entry is never revived')
  })

  test('update is an atomic read-modify-write of a live entry', async ({ store, clock }) => {
    await store.set(input('n', '0', { tags: ['t'] }))
    await Promise.all(
      Array.from({ length: 50 }, () =>
        store.update('ns', 'n', (current) => ({
          value: Buffer.from(String(Number(decode(current.value)) + 1)),
          contentType: 'text/plain',
          ttlMs: 60_000,
          tags: current.tags,
        })),
      ),
    )
    assert.is(decode((await store.get('ns', 'n'))?.value), '50', 'no update was lost')
    const current = await store.get('ns', 'n')
    assert.is(
      (
        await store.update('ns', 'n', () => ({ value: Buffer.from('x'), contentType: 'x', ttlMs: 1000 }), {
          ifMatch: ['"stale"'],
        })
      ).status,
      'precondition-failed',
    )
    const unchanged = await store.update('ns', 'n', () => undefined, { ifMatch: [current!.etag] })
    assert.is(unchanged.status, 'unchanged')
    assert.is(
      (await store.update('ns', 'missing', () => ({ value: Buffer.from('x'), contentType: 'x', ttlMs: 1000 }))).status,
      'not-found',
    )
    await store.set(input('old', 'v', { ttlMs: 1000 }))
    clock.advance(1000)
    assert.is(
      (await store.update('ns', 'old', () => ({ value: Buffer.from('x'), contentType: 'x', ttlMs: 1000 }))).status,
      'not-found',
      'expired entries are not revived',
    )
  })

  test('ping succeeds on a working store', async ({ store }) => {
    await store.ping()
  })

  test.run()
}
