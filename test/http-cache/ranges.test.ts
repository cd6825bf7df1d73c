// Byte ranges from stored responses (RFC 9110 §14, §13.1.5; RFC 9111 §3.3-3.4): rules as rows, then end to end.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { responseFacts } from '../../src/http-cache/policy/policy.ts'
import { byteRange, ifRangeHolds, isSingleRange } from '../../src/http-cache/proxy/ranges.ts'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { type FakeUpstream, fakeUpstream } from '../helpers/upstream.ts'

const get = (fields: Record<string, string>) => (name: string) => fields[name] ?? null

test('RFC 9110 §14.1.2 one byte range, and what it covers of 1000 bytes', () => {
  const rows: [string, string, ReturnType<typeof byteRange>][] = [
    ['first-last', 'bytes=0-9', { first: 0, last: 9 }],
    ['first- to the end', 'bytes=990-', { first: 990, last: 999 }],
    ['-n: the last n bytes', 'bytes=-5', { first: 995, last: 999 }],
    ['a suffix longer than the body is all of it', 'bytes=-5000', { first: 0, last: 999 }],
    ['a last byte past the end is cut to the end', 'bytes=5-2000', { first: 5, last: 999 }],
    ['a first byte past the end is unsatisfiable (416)', 'bytes=1000-', 'unsatisfiable'],
    ['-0 is unsatisfiable', 'bytes=-0', 'unsatisfiable'],
    ['last before first is unsatisfiable', 'bytes=9-3', 'unsatisfiable'],
  ]
  for (const [rule, range, expected] of rows) assert.equal(byteRange(range, 1000), expected, rule)
  assert.ok(isSingleRange('bytes=0-9'))
  assert.not.ok(isSingleRange('bytes=0-1,5-6'), 'several ranges go upstream')
  assert.not.ok(isSingleRange('items=0-9'), 'another unit goes upstream')
  assert.not.ok(isSingleRange('bytes=-'), 'no range at all')
})

test('RFC 9110 §13.1.5 If-Range: a strong ETag or the exact, strong Last-Modified', () => {
  const T = Date.UTC(2026, 0, 1, 12)
  const facts = responseFacts(
    200,
    get({ etag: '"v1"', 'last-modified': new Date(T - 60_000).toUTCString(), 'cache-control': 'max-age=60' }),
    T,
    T,
    0,
  )
  const holds = (fields: Record<string, string>) => ifRangeHolds(facts, get(fields), () => T)
  assert.ok(holds({}), 'no If-Range: the range applies')
  assert.ok(holds({ 'if-range': '"v1"' }), 'the same strong ETag')
  assert.not.ok(holds({ 'if-range': '"v2"' }), 'another ETag: the whole response')
  assert.not.ok(holds({ 'if-range': 'W/"v1"' }), 'a weak ETag never matches')
  assert.ok(holds({ 'if-range': new Date(T - 60_000).toUTCString() }), 'the exact Last-Modified')
  assert.not.ok(holds({ 'if-range': new Date(T - 30_000).toUTCString() }), 'another date')
  const weakDate = responseFacts(200, get({ 'last-modified': new Date(T).toUTCString() }), T, T, 0)
  assert.not.ok(
    ifRangeHolds(weakDate, get({ 'if-range': new Date(T).toUTCString() }), () => T),
    'a Last-Modified equal to Date is weak',
  )
})

let upstream: FakeUpstream
let car: TestCachecar
const BODY = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''))

test.after.each(async () => {
  await car?.shutdown()
  await upstream?.close()
})

test('one range is answered 206 from a fresh stored response; 416 past its end; several go upstream', async () => {
  upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"v1"', 'content-length': String(BODY.length) })
    res.end(BODY)
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  await car.get('/u/api/file')
  const part = await car.raw('GET', '/u/api/file', { range: 'bytes=10-19' })
  assert.is(part.status, 206)
  assert.is(part.headers['content-range'], 'bytes 10-19/1000')
  assert.is(part.headers['content-length'], '10')
  assert.is(part.body, BODY.subarray(10, 20).toString())
  assert.match(String(part.headers['cache-status']), 'cachecar; hit')
  const tail = await car.raw('GET', '/u/api/file', { range: 'bytes=-5' })
  assert.equal([tail.status, tail.body], [206, BODY.subarray(995).toString()])
  const beyond = await car.raw('GET', '/u/api/file', { range: 'bytes=1000-' })
  assert.is(beyond.status, 416)
  assert.is(beyond.headers['content-range'], 'bytes */1000')
  assert.match(beyond.body, 'urn:cachecar:problem:range-not-satisfiable')
  const matching = await car.raw('GET', '/u/api/file', { range: 'bytes=0-1', 'if-range': '"v1"' })
  assert.is(matching.status, 206)
  const changed = await car.raw('GET', '/u/api/file', { range: 'bytes=0-1', 'if-range': '"v0"' })
  assert.equal([changed.status, changed.body.length], [200, 1000], 'If-Range names another version: all of it')
  const head = await car.raw('HEAD', '/u/api/file', { range: 'bytes=0-1' })
  assert.is(head.status, 200, 'Range means nothing to HEAD')
  assert.is(upstream.received.length, 1, 'all of these from the cache')
  const several = await car.raw('GET', '/u/api/file', { range: 'bytes=0-1,5-6' })
  assert.is(upstream.received.length, 2, 'several ranges go upstream')
  assert.is(upstream.received[1]!.headers.range, 'bytes=0-1,5-6')
  assert.match(String(several.headers['cache-status']), 'fwd=bypass; fwd-status=200; detail=range')
})

test('a range on a miss fetches the whole response, stores it and is cut from it; later ranges are hits', async () => {
  upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"v1"', 'content-length': String(BODY.length) })
    res.end(BODY)
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const part = await car.raw('GET', '/u/api/cold', { range: 'bytes=0-1', 'if-range': '"v1"' })
  assert.equal(
    [part.status, part.body, part.headers['content-range']],
    [206, BODY.subarray(0, 2).toString(), 'bytes 0-1/1000'],
  )
  assert.match(String(part.headers['cache-status']), 'fwd=uri-miss; fwd-status=200; ttl=60; stored')
  assert.is(upstream.received[0]!.headers.range, undefined, 'the whole response was asked for')
  assert.is(upstream.received[0]!.headers['if-range'], undefined)
  const later = await car.raw('GET', '/u/api/cold', { range: 'bytes=990-' })
  assert.equal([later.status, later.body], [206, BODY.subarray(990).toString()])
  assert.is((await car.raw('GET', '/u/api/cold')).body.length, 1000)
  assert.is(upstream.received.length, 1, 'one fetch served all three')
  // Stale: validated without the range, and the range cut from what the 304 freshened.
  car.clock.advance(61_000)
  const stale = await car.raw('GET', '/u/api/cold', { range: 'bytes=5-9' })
  assert.equal([stale.status, stale.body], [206, BODY.subarray(5, 10).toString()])
  assert.is(upstream.received.length, 2)
  assert.is(upstream.received[1]!.headers['if-none-match'], '"v1"')
  assert.is(upstream.received[1]!.headers.range, undefined)
})

test('a range whose whole response cannot be kept goes upstream again as it came; only-if-cached never does', async () => {
  upstream = await fakeUpstream((req, res) => {
    if (req.headers.range) {
      res.writeHead(206, { 'content-range': 'bytes 0-1/1000', 'content-length': '2' })
      res.end('ab')
      return
    }
    if (req.url === '/big') {
      // Chunked, past the object size limit: found out only while it is read.
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      for (let i = 0; i < 100; i++) res.write(BODY)
      res.end()
      return
    }
    // private: never stored, so the client's range is asked of the upstream itself.
    res.writeHead(200, { 'cache-control': 'private, max-age=60', 'content-length': String(BODY.length) })
    res.end(BODY)
  })
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_MAX_OBJECT_BYTES: '64KiB',
  })
  const part = await car.raw('GET', '/u/api/mine', { range: 'bytes=0-1' })
  assert.equal([part.status, part.body], [206, 'ab'])
  assert.match(String(part.headers['cache-status']), 'fwd=uri-miss; fwd-status=206; detail=range')
  assert.equal(
    upstream.received.map((r) => r.headers.range),
    [undefined, 'bytes=0-1'],
    'the whole response first, then the range as it came',
  )
  const big = await car.raw('GET', '/u/api/big', { range: 'bytes=0-1' })
  assert.equal([big.status, big.body], [206, 'ab'], 'too large to keep: the range as it came')
  assert.equal(
    upstream.received.slice(2).map((r) => r.headers.range),
    [undefined, 'bytes=0-1'],
  )
  const onlyCached = await car.raw('GET', '/u/api/cold', { range: 'bytes=0-1', 'cache-control': 'only-if-cached' })
  assert.is(onlyCached.status, 504, 'only-if-cached keeps a range request off the upstream too')
  assert.is(upstream.received.length, 4)
})

test.run()
