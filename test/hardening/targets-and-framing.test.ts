// Framing and targets end to end: close-delimited responses are never stored, fragments never leave cachecar, dot
// segments cannot climb from one upstream into another, HTTP/0.9 request lines are refused.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { headersOf, rawUpstream, sendRaw, type RawUpstream } from '../helpers/raw-upstream.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

let car: TestCachecar | undefined
let upstreams: (FakeUpstream | RawUpstream)[] = []

test.after.each(async () => {
  await car?.shutdown()
  await Promise.all(upstreams.map((u) => u.close()))
  car = undefined
  upstreams = []
})

test('a close-delimited response (no Content-Length, not chunked) is passed on but never stored', async () => {
  const origin = await rawUpstream((socket) => {
    socket.end(`${headersOf(200, 'cache-control: max-age=600\r\nconnection: close\r\n')}maybe the whole body`)
  })
  upstreams.push(origin)
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${origin.url}` })
  const first = await car.get('/u/api/page')
  assert.is(first.body, 'maybe the whole body')
  assert.match(first.headers.get('cache-status') ?? '', 'detail=close-delimited')
  await car.get('/u/api/page')
  assert.is(origin.connections(), 2, 'the second request was answered from a stored close-delimited body')
})

test('dot segments that climb from one upstream into another are refused before any upstream is asked', async () => {
  const api = await fakeUpstream((_req, res) => res.end('api'))
  const admin = await fakeUpstream((_req, res) => res.end('admin secret'))
  upstreams.push(api, admin)
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${api.url},admin=${admin.url}` })
  for (const target of [
    '/u/api/../admin/secret',
    '/u/api/%2e%2e/admin/secret',
    '/u/api/%2E%2E/admin/secret',
    '/u/api/..%2fadmin/secret',
  ]) {
    const answer = await car.raw('GET', target)
    assert.not.match(answer.body, 'admin secret', target)
    if (!target.includes('%2f')) {
      assert.is(answer.status, 400, target)
      assert.is(answer.headers['content-type'], 'application/problem+json')
    }
  }
  assert.is(admin.received.length, 0)
})

test('a fragment is neither sent upstream nor part of the cache key', async () => {
  const origin = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600' })
    res.end('page')
  })
  upstreams.push(origin)
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${origin.url}` })
  await car.raw('GET', '/u/api/page?x=1#section')
  const second = await car.raw('GET', '/u/api/page?x=1#other')
  assert.equal(
    origin.received.map((r) => r.url),
    ['/page?x=1'],
  )
  assert.match(String(second.headers['cache-status']), 'hit')
})

test('an HTTP/0.9 request line is refused with a 400, on the proxy and on every other route', async () => {
  const origin = await fakeUpstream((_req, res) => res.end('page'))
  upstreams.push(origin)
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${origin.url}` })
  // The blank line ends the (empty) field section; without it Node's parser waits for more until headersTimeout.
  for (const line of ['GET /u/api/page\r\n\r\n', 'GET /v1/kv/app/k\r\n\r\n', 'GET /healthz\r\n\r\n']) {
    const answer = await sendRaw(car.port, line, { waitMs: 1000 })
    assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(line))
    assert.match(answer, 'HTTP/0.9')
  }
  assert.is(origin.received.length, 0)
})

test.run()
