// Nothing private is ever replayed from the cache: a 304 (foreground or background) that sets a cookie or makes the
// response private removes it instead of being merged; 103 Early Hints relay end-to-end fields only, no cookie.
import { request, type IncomingMessage, type ServerResponse } from 'node:http'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ResponseCache } from '../../src/http-cache/response-cache.ts'
import { responseFacts } from '../../src/http-cache/policy/policy.ts'
import { getter, type HeaderList } from '../../src/http-cache/headers.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

let upstream: FakeUpstream
let car: TestCachecar

test.after.each(async () => {
  await car?.shutdown()
  await upstream?.close()
})

/**
 * An upstream whose 200 is shared and whose 304 carries `on304` (one user's cookie, a new Cache-Control), as
 * express-session's `rolling`, PHP sessions and ALB stickiness answer revalidations.
 */
async function setup(cacheControl: string, on304: Record<string, string | string[]>): Promise<void> {
  upstream = await fakeUpstream((req: IncomingMessage, res: ServerResponse) => {
    const date = new Date(car.clock.now()).toUTCString()
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', date, ...on304 })
      res.end()
      return
    }
    res.writeHead(200, { etag: '"v1"', 'cache-control': cacheControl, date })
    res.end('shared page')
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
}

const COOKIE_304 = {
  'set-cookie': ['sid=alice-session; HttpOnly', 'AWSALB=sticky-alice'],
  'cache-control': 'max-age=60',
}

test('a 304 that sets a cookie reaches the client that drew it and is never replayed to the next user', async () => {
  await setup('max-age=10', COOKIE_304)
  await car.get('/u/api/page')
  car.clock.advance(11_000)
  const alice = await car.get('/u/api/page')
  assert.is(alice.body, 'shared page')
  assert.equal(
    alice.headers.getSetCookie(),
    ['sid=alice-session; HttpOnly', 'AWSALB=sticky-alice'],
    'each cookie on its own line',
  )
  for (let i = 0; i < 3; i++) {
    const next = await car.get('/u/api/page')
    assert.is(next.status, 200)
    assert.is(next.headers.get('set-cookie'), null, `request ${i + 1} after the 304 got someone's cookie`)
  }
})

test("a 304 answered to a conditional client request still carries that client's cookie, and nobody else gets it", async () => {
  await setup('max-age=10', COOKIE_304)
  await car.get('/u/api/page')
  car.clock.advance(11_000)
  const alice = await car.raw('GET', '/u/api/page', { 'if-none-match': '"v1"' })
  assert.is(alice.status, 304)
  assert.equal(alice.headers['set-cookie'], ['sid=alice-session; HttpOnly', 'AWSALB=sticky-alice'])
  const bob = await car.raw('GET', '/u/api/page', { 'if-none-match': '"v1"' })
  assert.is(bob.headers['set-cookie'], undefined)
})

for (const [what, on304] of [
  ['Cache-Control: private', { 'cache-control': 'private, max-age=60' }],
  ['Cache-Control: no-store', { 'cache-control': 'no-store' }],
] as const) {
  test(`a 304 with ${what} removes the stored response: the next request goes upstream`, async () => {
    await setup('max-age=10', on304)
    await car.get('/u/api/page')
    car.clock.advance(11_000)
    await car.get('/u/api/page')
    const after = upstream.received.length
    // max-stale would accept any stored copy, however stale: only a removed one sends this request upstream.
    const next = await car.get('/u/api/page', { 'cache-control': 'max-stale=3600' })
    assert.is.not(next.headers.get('cache-status')?.includes('hit'), true)
    assert.is(upstream.received.length, after + 1, 'the next request was answered from the cache')
  })
}

test('a background (stale-while-revalidate) 304 that sets a cookie is never merged into the stored response', async () => {
  await setup('max-age=10, stale-while-revalidate=60', COOKIE_304)
  await car.get('/u/api/page')
  car.clock.advance(11_000)
  const stale = await car.get('/u/api/page')
  assert.match(stale.headers.get('cache-status') ?? '', 'stale-while-revalidate')
  assert.ok(await eventually(() => upstream.received.length === 2), 'the background refresh went upstream')
  for (let i = 0; i < 3; i++) {
    const next = await car.get('/u/api/page')
    assert.is(next.headers.get('set-cookie'), null, 'a later user got the cookie of the refresh')
  }
})

test('the store write itself refuses a response with Set-Cookie or Cache-Control: private, whoever calls it', async () => {
  const store = new SqliteStore({ path: ':memory:', maxBytes: 1 << 24 })
  const cache = new ResponseCache(store)
  for (const headers of [[['set-cookie', 'sid=x']], [['cache-control', 'private, max-age=60']]] as HeaderList[]) {
    const facts = responseFacts(200, getter(headers), Date.now(), Date.now(), 0)
    let refused = false
    await cache
      .save('api', '/x', () => null, { facts, headers, body: Buffer.from('secret') }, 60_000, cache.fillStart())
      .catch(() => {
        refused = true
      })
    assert.ok(refused)
    assert.is((await cache.lookup('api', '/x', () => null)).kind, 'uri-miss')
  }
  await store.close()
})

/** Reads the 103s and the final status of one request. */
function withHints(path: string): Promise<{ status: number; hints: Record<string, string | string[] | undefined>[] }> {
  return new Promise((resolve, reject) => {
    const hints: Record<string, string | string[] | undefined>[] = []
    const req = request({ host: '127.0.0.1', port: car.port, path }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, hints }))
    })
    req.on('information', (info) => hints.push(info.headers))
    req.on('error', reject)
    req.end()
  })
}

test('103 Early Hints relay end-to-end fields only (no cookie, no hop-by-hop); several Links on one line all arrive', async () => {
  upstream = await fakeUpstream((_req, res) => {
    // Written raw: Node's own writeEarlyHints would refuse the joined Link line that real upstreams send.
    res.socket!.write(
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style, </b.js>; rel=preload; as=script\r\n' +
        'Set-Cookie: sid=alice\r\nConnection: x-secret\r\nX-Secret: internal\r\nX-Hint: yes\r\n\r\n',
    )
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60', date: new Date(car.clock.now()).toUTCString() })
      res.end('page')
    }, 20)
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const { status, hints } = await withHints('/u/api/page')
  assert.is(status, 200, 'a multi-valued Link turned the miss into an error')
  assert.is(hints.length, 1)
  assert.equal(hints[0]!.link, '</a.css>; rel=preload; as=style, </b.js>; rel=preload; as=script')
  assert.is(hints[0]!['x-hint'], 'yes')
  assert.is(hints[0]!['set-cookie'], undefined)
  assert.is(hints[0]!['x-secret'], undefined)
  assert.match(
    (await car.get('/u/api/page')).headers.get('cache-status') ?? '',
    'hit',
    'the final response was still stored',
  )
})

test.run()
