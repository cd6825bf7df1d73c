// ResponseCache over a memory store: which stored response a request finds (URL, then Vary variant), what replaces
// what, and what a purge does to fills in flight. The proxy's end-to-end tests cover the same through HTTP.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { getter, type HeaderList } from '../../src/http-cache/headers.ts'
import { responseFacts } from '../../src/http-cache/policy/policy.ts'
import type { StoredResponse } from '../../src/http-cache/record.ts'
import { ResponseCache } from '../../src/http-cache/response-cache.ts'
import { MemoryStore } from '../../src/store/memory-store.ts'
import { OvertakenByPurgeError } from '../../src/store/types.ts'
import { ManualClock } from '../helpers/clock.ts'

const TTL = 60_000

function stored(clock: ManualClock, body: string, headers: HeaderList = []): StoredResponse {
  const list: HeaderList = [['cache-control', 'max-age=60'], ...headers]
  return {
    facts: responseFacts(200, getter(list), clock.now(), clock.now(), TTL),
    headers: list,
    body: Buffer.from(body),
  }
}

const request =
  (fields: Record<string, string> = {}) =>
  (name: string) =>
    fields[name]

function setup() {
  const clock = new ManualClock()
  const store = new MemoryStore({ maxBytes: 1e7, now: clock.now })
  return { clock, store, cache: new ResponseCache(store, clock.now) }
}

/** Stores one variant of `path` per language, each varying on Accept-Language. */
async function saveLanguageVariants(cache: ResponseCache, clock: ManualClock, path: string, langs: string[]) {
  for (const lang of langs) {
    const response = stored(clock, lang, [['vary', 'Accept-Language']])
    await cache.save('api', path, request({ 'accept-language': lang }), response, TTL, cache.fillStart())
  }
}

const bodyOf = (lookup: Awaited<ReturnType<ResponseCache['lookup']>>) =>
  lookup.kind === 'hit' ? Buffer.from(lookup.response.body).toString() : lookup.kind

test('a response without Vary answers every request for its URL; other URLs and upstreams miss', async () => {
  const { clock, cache } = setup()
  await cache.save('api', '/a', request(), stored(clock, 'A'), TTL, cache.fillStart(), false)
  assert.is(bodyOf(await cache.lookup('api', '/a', request({ 'accept-language': 'de' }))), 'A')
  assert.is(bodyOf(await cache.lookup('api', '/b', request())), 'uri-miss')
  assert.is(bodyOf(await cache.lookup('other', '/a', request())), 'uri-miss', 'each upstream has its own namespace')
})

test('with Vary, each request finds the variant its fields select, and a new combination misses with its variant key', async () => {
  const { clock, cache } = setup()
  await saveLanguageVariants(cache, clock, '/a', ['de', 'fr'])
  assert.is(bodyOf(await cache.lookup('api', '/a', request({ 'accept-language': 'de' }))), 'de')
  assert.is(bodyOf(await cache.lookup('api', '/a', request({ 'accept-language': 'fr' }))), 'fr')
  const miss = await cache.lookup('api', '/a', request({ 'accept-language': 'it' }))
  assert.is(miss.kind, 'vary-miss')
  const other = await cache.lookup('api', '/a', request({ 'accept-language': 'es' }))
  assert.ok(
    miss.kind === 'vary-miss' && other.kind === 'vary-miss' && miss.variantKey !== other.variantKey,
    'distinct variants, distinct keys',
  )
})

test('a response without Vary replaces every variant stored before it', async () => {
  const { clock, cache, store } = setup()
  await saveLanguageVariants(cache, clock, '/a', ['de', 'fr'])
  await cache.save('api', '/a', request({ 'accept-language': 'de' }), stored(clock, 'ONE'), TTL, cache.fillStart())
  assert.is(bodyOf(await cache.lookup('api', '/a', request({ 'accept-language': 'fr' }))), 'ONE')
  const left = await store.list(ResponseCache.namespace('api'), { prefix: '/a', limit: 10 })
  assert.equal(
    left.map((info) => info.key),
    ['/a'],
    'the variants are deleted, not just unreachable',
  )
})

test('invalidate removes a URL with all its variants and counts them', async () => {
  const { clock, cache } = setup()
  await saveLanguageVariants(cache, clock, '/a', ['de', 'fr'])
  await cache.save('api', '/ab', request(), stored(clock, 'AB'), TTL, cache.fillStart(), false)
  assert.is(await cache.invalidate('api', '/a'), 3, 'the Vary spec and two variants')
  assert.is(bodyOf(await cache.lookup('api', '/a', request({ 'accept-language': 'de' }))), 'uri-miss')
  assert.is(bodyOf(await cache.lookup('api', '/ab', request())), 'AB', 'a URL that merely starts with it stays')
})

test('a fill that began before a purge reaching it is not stored; one that began after is', async () => {
  const { clock, cache } = setup()
  const before = cache.fillStart()
  await cache.purgePrefix('api', '/a')
  try {
    await cache.save('api', '/a/1', request(), stored(clock, 'old'), TTL, before, false)
    assert.unreachable('the overtaken fill was stored')
  } catch (error) {
    assert.instance(error, OvertakenByPurgeError)
  }
  assert.is(bodyOf(await cache.lookup('api', '/a/1', request())), 'uri-miss')
  await cache.save('api', '/a/1', request(), stored(clock, 'new'), TTL, cache.fillStart(), false)
  assert.is(bodyOf(await cache.lookup('api', '/a/1', request())), 'new')
})

test('a purge by surrogate key overtakes only the fills carrying that key', async () => {
  const { clock, cache } = setup()
  const before = cache.fillStart()
  await cache.purgeSurrogateKeys(['product-1'])
  await cache.save(
    'api',
    '/other',
    request(),
    stored(clock, 'kept', [['surrogate-key', 'product-2']]),
    TTL,
    before,
    false,
  )
  assert.is(bodyOf(await cache.lookup('api', '/other', request())), 'kept')
  try {
    await cache.save(
      'api',
      '/p1',
      request(),
      stored(clock, 'x', [['surrogate-key', 'product-1 list']]),
      TTL,
      before,
      false,
    )
    assert.unreachable('the overtaken fill was stored')
  } catch (error) {
    assert.instance(error, OvertakenByPurgeError)
  }
})

test('save refuses what no shared cache may keep, whatever called it', async () => {
  const { clock, cache } = setup()
  for (const headers of [[['cache-control', 'private']], [['set-cookie', 'sid=1']]] as HeaderList[]) {
    try {
      await cache.save('api', '/p', request(), stored(clock, 'secret', headers), TTL, cache.fillStart(), false)
      assert.unreachable(`stored a response with ${headers[0]![0]}`)
    } catch (error) {
      assert.match((error as Error).message, /refused to store/)
    }
  }
  assert.is(bodyOf(await cache.lookup('api', '/p', request())), 'uri-miss')
})

test('markStale keeps the bytes but ends their freshness now', async () => {
  const { clock, cache } = setup()
  await cache.save('api', '/a', request(), stored(clock, 'A'), TTL, cache.fillStart(), false)
  clock.advance(5000)
  assert.is(await cache.markStale('api', '/a', false), 1)
  const found = await cache.lookup('api', '/a', request())
  assert.ok(found.kind === 'hit')
  assert.is(Buffer.from(found.response.body).toString(), 'A')
  assert.ok(found.response.facts.freshnessMs <= 5000, `freshness ${found.response.facts.freshnessMs} ms, age 5000 ms`)
})

test.run()
