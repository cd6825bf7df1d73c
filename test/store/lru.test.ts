// The byte-bounded LRU behind the hot tier and the memory store: what it keeps, what it drops first, its byte count.
import * as fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ByteLru } from '../../src/store/lru.ts'

test('the least recently used entry leaves first, and a read counts as a use', () => {
  const lru = new ByteLru<string>(30)
  const evicted: string[] = []
  lru.set('a', 'A', 10)
  lru.set('b', 'B', 10)
  lru.set('c', 'C', 10)
  assert.is(lru.get('a'), 'A')
  lru.set('d', 'D', 10, (key) => evicted.push(key))
  assert.equal(evicted, ['b'])
  assert.equal(
    [...lru.entries()].map(([key]) => key),
    ['c', 'a', 'd'],
  )
  assert.is(lru.bytes, 30)
})

test('peek reads without changing the order', () => {
  const lru = new ByteLru<string>(20)
  lru.set('a', 'A', 10)
  lru.set('b', 'B', 10)
  assert.is(lru.peek('a'), 'A')
  lru.set('c', 'C', 10)
  assert.is(lru.peek('a'), undefined)
})

test('replacing a key frees its old bytes and is not reported as an eviction', () => {
  const lru = new ByteLru<string>(25)
  const evicted: string[] = []
  lru.set('a', 'A', 10)
  lru.set('b', 'B', 10)
  lru.set('a', 'A2', 15, (key) => evicted.push(key))
  assert.equal(evicted, [])
  assert.is(lru.bytes, 25)
  assert.is(lru.size, 2)
})

test('the entry just stored stays even if it alone is over the bound; everything else leaves', () => {
  const lru = new ByteLru<string>(10)
  lru.set('a', 'A', 5)
  lru.set('big', 'B', 50)
  assert.equal(
    [...lru.entries()].map(([key]) => key),
    ['big'],
  )
  assert.is(lru.bytes, 50)
})

test('deleting each entry while iterating visits every entry once', () => {
  const lru = new ByteLru<number>(100)
  for (let i = 0; i < 10; i++) lru.set(`k${i}`, i, 1)
  const seen: number[] = []
  for (const [key, value] of lru.entries()) {
    seen.push(value)
    if (value % 2 === 0) lru.delete(key)
  }
  assert.equal(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  assert.equal([...lru.values()], [1, 3, 5, 7, 9])
  assert.is(lru.bytes, 5)
})

// A reference model: an array in recency order, oldest first.
test('any sequence of operations matches a plain recency list (property)', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), size: fc.nat(12) }),
    fc.record({
      kind: fc.constantFrom('get' as const, 'delete' as const, 'peek' as const),
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    }),
  )
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const lru = new ByteLru<number>(20)
      let model: { key: string; size: number }[] = []
      ops.forEach((o, n) => {
        const at = model.findIndex((e) => e.key === o.key)
        if (o.kind === 'set') {
          const evicted: string[] = []
          lru.set(o.key, n, o.size, (key) => evicted.push(key))
          if (at >= 0) model.splice(at, 1)
          model.push({ key: o.key, size: o.size })
          const expected: string[] = []
          while (model.reduce((sum, e) => sum + e.size, 0) > 20 && model.length > 1) expected.push(model.shift()!.key)
          assert.equal(evicted, expected)
        } else if (o.kind === 'get' && at >= 0) {
          lru.get(o.key)
          model.push(...model.splice(at, 1))
        } else if (o.kind === 'delete') {
          lru.delete(o.key)
          if (at >= 0) model.splice(at, 1)
        } else {
          lru.peek(o.key)
        }
        assert.equal(
          [...lru.entries()].map(([key]) => key),
          model.map((e) => e.key),
        )
        assert.is(
          lru.bytes,
          model.reduce((sum, e) => sum + e.size, 0),
        )
        assert.is(lru.size, model.length)
      })
      model = []
    }),
  )
})

test.run()
