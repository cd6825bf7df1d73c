// The read-through cache end to end: a real upstream on loopback, cachecar listening, a manual clock.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

let upstream: FakeUpstream
let car: TestCachecar

async function setup(handle: FakeUpstream['handle'], env: Record<string, string> = {}) {
  upstream = await fakeUpstream(handle)
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}`, ...env })
  upstream.handle = handle
}

/** A handler answering every request with `headers` and a body naming the request number. */
function answer(headers: Record<string, string>, status = 200) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const body = `body #${upstream.received.length} for ${req.url}`
    // A declared length, as most upstreams send: Cache-Status can then say `stored` with the fields.
    res.writeHead(status, {
      date: new Date(car.clock.now()).toUTCString(),
      'content-length': String(Buffer.byteLength(body)),
      ...headers,
    })
    res.end(body)
  }
}

test.after.each(async () => {
  await car?.shutdown()
  await upstream?.close()
})

test('hits served from memory carry the Age and ttl of their own moment, second by second', async () => {
  await setup(answer({ 'cache-control': 'max-age=60', 'content-type': 'text/plain' }))
  await car.get('/u/api/hot')
  for (let i = 0; i < 3; i++) await car.get('/u/api/hot') // held in the memory tier from here on
  const seen: string[] = []
  for (const step of [0, 400, 600, 1100, 2500]) {
    car.clock.advance(step)
    const hit = await car.get('/u/api/hot')
    seen.push(`${hit.headers.get('age')} ${hit.headers.get('cache-status')}`)
  }
  // 0, 0.4, 1.0, 2.1 and 4.6 s after the response was received: Age and ttl change seconds at different moments.
  assert.equal(seen, [
    '0 cachecar; hit; ttl=60',
    '0 cachecar; hit; ttl=59',
    '1 cachecar; hit; ttl=59',
    '2 cachecar; hit; ttl=57',
    '4 cachecar; hit; ttl=55',
  ])
  assert.is(upstream.received.length, 1)
})

test('a miss is fetched and stored; the next request is a hit with Age and Cache-Status', async () => {
  await setup(answer({ 'cache-control': 'max-age=60', 'content-type': 'text/plain' }))
  const miss = await car.get('/u/api/items?x=1')
  assert.is(miss.status, 200)
  assert.is(miss.body, 'body #1 for /items?x=1')
  assert.match(miss.headers.get('cache-status') ?? '', 'fwd=uri-miss; fwd-status=200; stored')
  car.clock.advance(10_000)
  const hit = await car.get('/u/api/items?x=1')
  assert.is(hit.body, 'body #1 for /items?x=1')
  assert.is(hit.headers.get('age'), '10')
  assert.is(hit.headers.get('cache-status'), 'cachecar; hit; ttl=50')
  assert.is(hit.headers.get('content-type'), 'text/plain')
  assert.is(upstream.received.length, 1)
})

test('the key is the path and query as received: a different query is a different resource', async () => {
  await setup(answer({ 'cache-control': 'max-age=60' }))
  await car.get('/u/api/items?x=1')
  await car.get('/u/api/items?x=2')
  await car.get('/u/api/items?x=1')
  assert.equal(
    upstream.received.map((r) => r.url),
    ['/items?x=1', '/items?x=2'],
  )
})

test('RFC 9110 §5.6.7: an Expires that is no HTTP-date makes the response stale at once; the three forms count', async () => {
  const later = (ms: number) => new Date(car.clock.now() + ms)
  const imf = (at: Date) => at.toUTCString()
  const forms: Record<string, (at: Date) => string> = {
    '/utc': (at) => imf(at).replace('GMT', 'UTC'),
    '/no-comma': (at) => imf(at).replace(',', ''),
    '/iso': (at) => at.toISOString(),
    '/imf': imf,
    '/asctime': (at) => {
      const [name, day, month, year, time] = imf(at).split(' ')
      return `${name!.slice(0, 3)} ${month} ${day!.replace(/^0/, ' ')} ${time} ${year}`
    },
  }
  await setup((req, res) => {
    const expires = forms[req.url!]!(later(3_600_000))
    res.writeHead(200, { date: new Date(car.clock.now()).toUTCString(), expires, 'content-type': 'text/plain' })
    res.end(`body #${upstream.received.length}`)
  })
  const upstreamRequests = async (path: string) => {
    const before = upstream.received.length
    await car.get(`/u/api${path}`)
    car.clock.advance(1000)
    await car.get(`/u/api${path}`)
    return upstream.received.length - before
  }
  for (const path of ['/utc', '/no-comma', '/iso']) assert.is(await upstreamRequests(path), 2, `${path}: stale at once`)
  for (const path of ['/imf', '/asctime']) assert.is(await upstreamRequests(path), 1, `${path}: fresh for an hour`)
})

test('RFC 9213 §2.1: a targeted field with a wrongly typed member is ignored as a whole; Cache-Control applies', async () => {
  const targeted: Record<string, string> = {
    '/string': 'max-age="10000"',
    '/trailing-comma': 'max-age=10000,',
    '/integer': 'max-age=10000',
  }
  await setup(answer({ 'cache-control': 'max-age=1', 'content-type': 'text/plain' }))
  upstream.handle = (req, res) => {
    res.writeHead(200, {
      date: new Date(car.clock.now()).toUTCString(),
      'cache-control': 'max-age=1',
      'cdn-cache-control': targeted[req.url!]!,
    })
    res.end(`body #${upstream.received.length}`)
  }
  for (const path of Object.keys(targeted)) await car.get(`/u/api${path}`)
  car.clock.advance(5000)
  for (const path of Object.keys(targeted)) await car.get(`/u/api${path}`)
  const fetched = (path: string) => upstream.received.filter((r) => r.url === path).length
  assert.is(fetched('/string'), 2, 'max-age="10000" ignored: Cache-Control max-age=1 made it stale')
  assert.is(fetched('/trailing-comma'), 2, 'a field that does not parse is ignored')
  assert.is(fetched('/integer'), 1, 'a valid CDN-Cache-Control keeps it fresh')
})

test('an unknown upstream is a 404 problem', async () => {
  await setup(answer({}))
  const response = await car.get('/u/nope/x')
  assert.is(response.status, 404)
  assert.match(response.body, 'urn:cachecar:problem:unknown-upstream')
  assert.is(response.headers.get('cache-status'), 'cachecar; detail=unknown-upstream')
})

test('no-store, private and Set-Cookie responses are never stored', async () => {
  for (const headers of [
    { 'cache-control': 'no-store, max-age=60' },
    { 'cache-control': 'private, max-age=60' },
    { 'cache-control': 'max-age=60', 'set-cookie': 'a=1' },
  ]) {
    await setup(answer(headers))
    await car.get('/u/api/a')
    const second = await car.get('/u/api/a')
    assert.is(upstream.received.length, 2, JSON.stringify(headers))
    assert.match(second.headers.get('cache-status') ?? '', 'fwd=uri-miss', JSON.stringify(headers))
    await car.shutdown()
    await upstream.close()
  }
})

test('Vary keeps several variants of one URL; Vary: * is never stored', async () => {
  await setup((req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=60',
      vary: 'Accept-Language',
      date: new Date(car.clock.now()).toUTCString(),
    })
    res.end(`hello in ${req.headers['accept-language']}`)
  })
  assert.is((await car.get('/u/api/greet', { 'accept-language': 'fr' })).body, 'hello in fr')
  assert.is((await car.get('/u/api/greet', { 'accept-language': 'de' })).body, 'hello in de')
  const fr = await car.get('/u/api/greet', { 'accept-language': 'fr' })
  const de = await car.get('/u/api/greet', { 'accept-language': 'de' })
  assert.equal([fr.body, de.body], ['hello in fr', 'hello in de'])
  assert.match(fr.headers.get('cache-status') ?? '', 'hit')
  assert.is(upstream.received.length, 2)
  const es = await car.get('/u/api/greet', { 'accept-language': 'es' })
  assert.match(es.headers.get('cache-status') ?? '', 'fwd=vary-miss')
  upstream.handle = answer({ 'cache-control': 'max-age=60', vary: '*' })
  await car.get('/u/api/star')
  await car.get('/u/api/star')
  assert.is(upstream.received.filter((r) => r.url === '/star').length, 2)
})

test('a stale entry with an ETag is revalidated; a 304 refreshes it and the stored body is served', async () => {
  await setup((req, res) => {
    const date = new Date(car.clock.now()).toUTCString()
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=120', date, 'x-refreshed': 'yes' })
      res.end()
      return
    }
    res.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=60', date })
    res.end('version one')
  })
  await car.get('/u/api/doc')
  car.clock.advance(61_000)
  const revalidated = await car.get('/u/api/doc')
  assert.is(revalidated.status, 200)
  assert.is(revalidated.body, 'version one')
  assert.match(revalidated.headers.get('cache-status') ?? '', 'fwd=stale; fwd-status=304')
  assert.is(revalidated.headers.get('x-refreshed'), 'yes')
  assert.is(upstream.received[1]!.headers['if-none-match'], '"v1"')
  car.clock.advance(100_000)
  const hit = await car.get('/u/api/doc')
  assert.match(hit.headers.get('cache-status') ?? '', 'hit')
  assert.is(upstream.received.length, 2, 'the 304 made it fresh for another 120 s')
})

test('a client conditional request is answered 304 from a fresh stored response', async () => {
  await setup(answer({ 'cache-control': 'max-age=60', etag: '"abc"' }))
  await car.get('/u/api/doc')
  const conditional = await car.raw('GET', '/u/api/doc', { 'if-none-match': '"abc"' })
  assert.is(conditional.status, 304)
  assert.is(conditional.headers.etag, '"abc"')
  assert.is(upstream.received.length, 1)
})

test('RFC 9110 §13.1.3: If-Modified-Since on a stored response without Last-Modified compares with its Date', async () => {
  await setup(answer({ 'cache-control': 'max-age=60', 'content-type': 'text/plain' }))
  const first = await car.get('/u/api/undated')
  const date = first.headers.get('date')!
  assert.is(first.headers.get('last-modified'), null)
  car.clock.advance(5000)
  // Node's http client: fetch adds Cache-Control: no-cache to any conditional request (the Fetch standard).
  const same = await car.raw('GET', '/u/api/undated', { 'if-modified-since': date })
  assert.is(same.status, 304, 'not modified since its Date')
  const earlier = new Date(Date.parse(date) - 60_000).toUTCString()
  const older = await car.raw('GET', '/u/api/undated', { 'if-modified-since': earlier })
  assert.is(older.status, 200, 'modified since a minute before its Date')
  assert.is(upstream.received.length, 1, 'both answered from the cache')
})

test('qualified private and no-cache: stored without the fields they name, which only the fetching client sees', async () => {
  await setup((_req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=60, private="x-user", no-cache="x-debug"',
      date: new Date(car.clock.now()).toUTCString(),
      'x-user': `user of request #${upstream.received.length}`,
      'x-debug': 'trace-1',
      'x-public': 'yes',
      'content-length': '4',
    })
    res.end('page')
  })
  const first = await car.get('/u/api/page')
  assert.is(first.headers.get('x-user'), 'user of request #1', 'the client that fetched it gets every field')
  assert.is(first.headers.get('x-debug'), 'trace-1')
  assert.match(first.headers.get('cache-status') ?? '', 'stored')
  car.clock.advance(1000)
  const hit = await car.get('/u/api/page')
  assert.match(hit.headers.get('cache-status') ?? '', 'cachecar; hit', 'qualified no-cache: the rest is reused fresh')
  assert.is(hit.body, 'page')
  assert.is(hit.headers.get('x-public'), 'yes')
  assert.is(hit.headers.get('x-user'), null, 'private="x-user" never reaches another client')
  assert.is(hit.headers.get('x-debug'), null, 'no-cache="x-debug" is not reused')
  assert.is(upstream.received.length, 1)
})

test('Vary: Accept-Encoding and Accept-Language share stored variants across spellings of the same preferences', async () => {
  await setup((req, res) => {
    const body = `variant #${upstream.received.length} for ${req.headers['accept-encoding']} / ${req.headers['accept-language']}`
    res.writeHead(200, {
      'cache-control': 'max-age=60',
      vary: 'Accept-Encoding, Accept-Language',
      date: new Date(car.clock.now()).toUTCString(),
      'content-length': String(Buffer.byteLength(body)),
    })
    res.end(body)
  })
  const ask = (encoding: string, language: string) =>
    car.get('/u/api/page', { 'accept-encoding': encoding, 'accept-language': language })
  const first = await ask('gzip, br', 'fr;q=0.8, en')
  const same = await ask('GZIP,BR', 'en, fr;q=0.80')
  assert.is(same.body, first.body)
  assert.match(same.headers.get('cache-status') ?? '', 'cachecar; hit')
  const other = await ask('br, gzip', 'fr;q=0.8, en')
  assert.is.not(other.body, first.body, 'another order of equal preferences is another variant')
  assert.is(upstream.received.length, 2)
})

test('HEAD is answered from a stored GET', async () => {
  await setup(answer({ 'cache-control': 'max-age=60' }))
  await car.get('/u/api/doc')
  const head = await fetch(`${car.url}/u/api/doc`, { method: 'HEAD' })
  assert.is(head.status, 200)
  assert.match(head.headers.get('cache-status') ?? '', 'hit')
  assert.is(await head.text(), '')
  assert.is(upstream.received.length, 1)
})

test('RFC 9111 §4.3.5: a HEAD on a stale stored response freshens it (by a conditional GET), and GETs reuse it', async () => {
  await setup((req, res) => {
    const matches = req.headers['if-none-match'] === '"v1"'
    res.writeHead(matches ? 304 : 200, {
      'cache-control': 'max-age=10',
      etag: '"v1"',
      date: new Date(car.clock.now()).toUTCString(),
      ...(!matches && { 'content-length': '4' }),
    })
    res.end(matches ? undefined : 'body')
  })
  await car.get('/u/api/doc')
  car.clock.advance(60_000)
  const head = await car.raw('HEAD', '/u/api/doc')
  assert.is(head.status, 200)
  assert.is(head.body, '')
  assert.is(upstream.received[1]!.method, 'GET', 'validated with a GET: a 304 freshens, a 200 replaces the body too')
  assert.is(upstream.received[1]!.headers['if-none-match'], '"v1"')
  const get = await car.get('/u/api/doc')
  assert.is(get.body, 'body')
  assert.match(get.headers.get('cache-status') ?? '', 'cachecar; hit', 'fresh again after the HEAD')
  assert.is(upstream.received.length, 2)
})

test('stale-while-revalidate serves the stale copy at once and refreshes it once in the background', async () => {
  let version = 1
  await setup((_req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=10, stale-while-revalidate=60',
      date: new Date(car.clock.now()).toUTCString(),
    })
    res.end(`v${version++}`)
  })
  await car.get('/u/api/feed')
  car.clock.advance(20_000)
  const stale = await Promise.all([car.get('/u/api/feed'), car.get('/u/api/feed'), car.get('/u/api/feed')])
  assert.equal(
    stale.map((r) => r.body),
    ['v1', 'v1', 'v1'],
  )
  assert.match(stale[0]!.headers.get('cache-status') ?? '', 'detail=stale-while-revalidate')
  // Requests while the refresh is in flight still get v1 and start no second refresh; once it is stored, v2.
  assert.ok(
    await eventually(async () => (await car.get('/u/api/feed')).body === 'v2', 5000),
    'the refreshed copy is served',
  )
  assert.is(upstream.received.length, 2, 'exactly one background refresh')
})

test('stale-if-error serves the stale copy when the upstream fails; must-revalidate forbids it', async () => {
  let fail = false
  await setup((_req, res) => {
    if (fail) {
      res.writeHead(503)
      res.end('down')
      return
    }
    res.writeHead(200, {
      'cache-control': 'max-age=10, stale-if-error=300',
      date: new Date(car.clock.now()).toUTCString(),
    })
    res.end('good')
  })
  await car.get('/u/api/x')
  fail = true
  car.clock.advance(60_000)
  const stale = await car.get('/u/api/x')
  assert.is(stale.status, 200)
  assert.is(stale.body, 'good')
  assert.match(stale.headers.get('cache-status') ?? '', 'detail=stale-if-error')
  car.clock.advance(300_000)
  const tooOld = await car.get('/u/api/x')
  assert.is(tooOld.status, 503, 'past the window the error passes through')
})

test('only-if-cached on a miss is 504', async () => {
  await setup(answer({ 'cache-control': 'max-age=60' }))
  const response = await car.get('/u/api/none', { 'cache-control': 'only-if-cached' })
  assert.is(response.status, 504)
  assert.match(response.body, 'urn:cachecar:problem:not-cached')
  assert.is(response.headers.get('cache-status'), 'cachecar; fwd=uri-miss; detail=only-if-cached')
  assert.is(upstream.received.length, 0)
})

test('a successful POST invalidates the target URI and a same-origin Location', async () => {
  await setup((req, res) => {
    if (req.method === 'POST') {
      res.writeHead(201, { location: '/items/7' })
      res.end()
      return
    }
    res.writeHead(200, { 'cache-control': 'max-age=60', date: new Date(car.clock.now()).toUTCString() })
    res.end(`get #${upstream.received.length}`)
  })
  await car.get('/u/api/items')
  await car.get('/u/api/items/7')
  const post = await fetch(`${car.url}/u/api/items`, {
    method: 'POST',
    body: '{"n":7}',
    headers: { 'content-type': 'application/json' },
  })
  assert.is(post.status, 201)
  assert.is(upstream.received.at(-1)!.body, '{"n":7}', 'the body streamed through')
  await car.get('/u/api/items')
  await car.get('/u/api/items/7')
  assert.equal(
    upstream.received.map((r) => `${r.method} ${r.url}`),
    ['GET /items', 'GET /items/7', 'POST /items', 'GET /items', 'GET /items/7'],
  )
})

test('RFC 9110 §9.3.3: a POST answer with max-age and Content-Location = its URL serves later GETs and HEADs', async () => {
  await setup((req, res) => {
    const n = upstream.received.length
    const headers = { date: new Date(car.clock.now()).toUTCString(), 'cache-control': 'max-age=60' }
    if (req.method !== 'POST') return res.writeHead(200, headers).end(`get #${n}`)
    // /items names itself (relative, as upstreams send it); /elsewhere names another URL; /stale has no freshness.
    const location = { '/items': 'items', '/elsewhere': '/items', '/stale': '/stale' }[req.url!]!
    const fresh = req.url === '/stale' ? {} : headers
    const body = `posted #${n}`
    res.writeHead(200, { ...fresh, 'content-location': location, 'content-length': String(body.length) }).end(body)
  })
  await car.get('/u/api/items')
  const post = await fetch(`${car.url}/u/api/items`, { method: 'POST', body: '{"n":7}' })
  assert.is(await post.text(), 'posted #2')
  assert.is(post.headers.get('cache-status'), 'cachecar; fwd=method; fwd-status=200; stored')
  const get = await car.get('/u/api/items')
  assert.is(get.body, 'posted #2', 'the POST answer replaced the stored GET answer')
  assert.match(get.headers.get('cache-status') ?? '', /^cachecar; hit/)
  const head = await car.raw('HEAD', '/u/api/items')
  assert.is(head.status, 200)
  assert.is(head.headers['content-length'], String('posted #2'.length))
  assert.is(upstream.received.length, 2, 'neither the GET nor the HEAD went upstream')

  // Content-Location naming another URL, or no explicit freshness: the POST invalidates and stores nothing.
  for (const path of ['/elsewhere', '/stale']) {
    await car.get(`/u/api${path}`)
    const other = await fetch(`${car.url}/u/api${path}`, { method: 'POST', body: '{}' })
    await other.text()
    assert.is(other.headers.get('cache-status'), 'cachecar; fwd=method; fwd-status=200')
    const after = await car.get(`/u/api${path}`)
    assert.match(after.headers.get('cache-status') ?? '', 'fwd=uri-miss', `${path} went upstream again`)
  }
})

test("a chunked POST answer stored for later GETs is still the POST's own 200, whatever its preconditions", async () => {
  await setup((req, res) => {
    res.writeHead(200, {
      date: new Date(car.clock.now()).toUTCString(),
      'cache-control': 'max-age=60',
      etag: '"v1"',
      'content-location': req.url!,
    })
    res.write('chunked ') // no Content-Length: read whole before answering, then served from what was stored
    res.end('answer')
  })
  const post = await fetch(`${car.url}/u/api/items`, {
    method: 'POST',
    body: '{}',
    headers: { 'if-none-match': '"v1"' },
  })
  assert.is(post.status, 200, 'a 304 is no answer to a POST (RFC 9110 §13.1.2)')
  assert.is(await post.text(), 'chunked answer')
  assert.match(post.headers.get('cache-status') ?? '', 'stored')
  // node:http, not fetch: fetch adds Cache-Control: no-cache to a conditional request.
  const get = await car.raw('GET', '/u/api/items', { 'if-none-match': '"v1"' })
  assert.is(get.status, 304, 'a GET with the same precondition is answered 304 from what was stored')
  assert.is(upstream.received.length, 1)
})

test('concurrent misses for one key make exactly one upstream request and get the same bytes', async () => {
  await setup((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, {
        'cache-control': 'max-age=60',
        'content-length': '50000',
        date: new Date(car.clock.now()).toUTCString(),
      })
      res.end('x'.repeat(50_000))
    }, 200)
  })
  const responses = await Promise.all(Array.from({ length: 50 }, () => car.get('/u/api/cold')))
  assert.is(upstream.received.length, 1)
  assert.ok(responses.every((r) => r.status === 200 && r.body === 'x'.repeat(50_000)))
  // On a loaded machine some requests only arrive once the answer is stored: those are plain hits, not waiters.
  const kinds = responses.map((r) => {
    const status = r.headers.get('cache-status') ?? ''
    return status.includes('collapsed')
      ? 'collapsed'
      : status.includes('stored')
        ? 'fetched'
        : status.endsWith('; hit') || status.includes('; hit;')
          ? 'hit'
          : status
  })
  assert.is(kinds.filter((k) => k === 'fetched').length, 1, 'one request went upstream')
  assert.ok(kinds.includes('collapsed'), 'requests that came while it was in flight waited for it')
  assert.ok(
    kinds.every((k) => ['fetched', 'collapsed', 'hit'].includes(k)),
    kinds.join(', '),
  )
})

test("hop-by-hop headers are stripped both ways; X-Forwarded-For is added; Host is the upstream's", async () => {
  await setup((_req, res) => {
    res.writeHead(200, { connection: 'x-secret-hop', 'x-secret-hop': '1', 'keep-alive': 'timeout=5', 'x-end': 'kept' })
    res.end('ok')
  })
  const response = await car.raw('GET', '/u/api/h', { connection: 'x-drop-me', 'x-drop-me': 'gone', 'x-keep': 'yes' })
  const seen = upstream.received[0]!.headers
  assert.is(seen['x-drop-me'], undefined)
  assert.is(seen['x-keep'], 'yes')
  assert.is(seen['x-forwarded-for'], '127.0.0.1')
  assert.is(seen['x-forwarded-proto'], 'http')
  assert.is(seen.host, new URL(upstream.url).host)
  assert.is(response.headers['x-secret-hop'], undefined)
  assert.is(response.headers['x-end'], 'kept')
})

test('paths that look like other hosts stay on the configured upstream, or are refused', async () => {
  await setup(answer({}))
  for (const path of ['//evil.example/x', '/%2F%2Fevil.example/x']) {
    const response = await car.raw('GET', `/u/api${path}`)
    assert.is(response.status, 200, path)
  }
  assert.equal(
    upstream.received.map((r) => r.url),
    ['//evil.example/x', '/%2F%2Fevil.example/x'],
  )
  const backslash = await car.raw('GET', '/u/api/\\evil.example/x')
  assert.is(backslash.status, 400, 'a backslash is not a valid request target')
  const dots = await car.raw('GET', '/u/api/..//evil.example/x')
  assert.is(dots.status, 400, 'dot segments that climb out of the upstream are refused')
  assert.is(upstream.received.length, 2)
})

test('a request body over the upstream limit is 413, declared or streamed', async () => {
  await setup(answer({}), { CACHECAR_UPSTREAM_API_MAX_REQUEST_BYTES: '1KiB' })
  const declared = await fetch(`${car.url}/u/api/upload`, { method: 'POST', body: 'x'.repeat(2048) })
  assert.is(declared.status, 413)
  const chunks = [new Uint8Array(700), new Uint8Array(700)]
  const streamed = await fetch(`${car.url}/u/api/upload`, {
    method: 'POST',
    duplex: 'half',
    body: new ReadableStream({
      pull(c) {
        const next = chunks.shift()
        if (next) c.enqueue(next)
        else c.close()
      },
    }),
  } as RequestInit)
  assert.is(streamed.status, 413)
  assert.ok(
    upstream.received.every((r) => r.body.length <= 1024),
    'no body over the limit reached the upstream whole',
  )
  const fine = await fetch(`${car.url}/u/api/upload`, { method: 'POST', body: 'x'.repeat(1024) })
  assert.is(fine.status, 200)
})

test('a client no-cache revalidates a fresh entry and says so: fwd=request', async () => {
  await setup((req, res) => {
    const date = new Date(car.clock.now()).toUTCString()
    res.writeHead(req.headers['if-none-match'] ? 304 : 200, { etag: '"e"', 'cache-control': 'max-age=600', date })
    res.end(req.headers['if-none-match'] ? undefined : 'body')
  })
  await car.get('/u/api/doc')
  const forced = await car.get('/u/api/doc', { 'cache-control': 'no-cache' })
  assert.is(forced.body, 'body')
  assert.match(forced.headers.get('cache-status') ?? '', 'fwd=request; fwd-status=304')
  assert.is(upstream.received.length, 2)
})

const purge = (body: unknown) => fetch(`${car.url}/v1/cache/purge`, { method: 'POST', body: JSON.stringify(body) })

test('purge by URL, by path prefix and by surrogate key', async () => {
  await setup((req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=600',
      date: new Date(car.clock.now()).toUTCString(),
      'surrogate-key': req.url!.startsWith('/products') ? 'products' : 'other',
      'cache-tag': `path:${req.url}`,
    })
    res.end(`#${upstream.received.length}`)
  })
  const paths = ['/products/1', '/products/2', '/users/1', '/users/2', '/misc']
  for (const path of paths) await car.get(`/u/api${path}`)
  assert.equal(await (await purge({ upstream: 'api', path: '/users/1' })).json(), { purged: 1 })
  assert.equal(await (await purge({ upstream: 'api', prefix: '/users/' })).json(), { purged: 1 })
  assert.equal(await (await purge({ surrogateKeys: ['products'] })).json(), { purged: 2 })
  assert.equal(await (await purge({ surrogateKeys: ['path:/misc'] })).json(), { purged: 1 })
  for (const path of paths) await car.get(`/u/api${path}`)
  assert.is(upstream.received.length, 10, 'every purged URL was fetched again')
})

test('soft purge marks an entry stale: the next request revalidates instead of refetching', async () => {
  await setup((req, res) => {
    const date = new Date(car.clock.now()).toUTCString()
    if (req.headers['if-none-match'] === '"e1"') {
      res.writeHead(304, { etag: '"e1"', 'cache-control': 'max-age=600', date })
      res.end()
      return
    }
    res.writeHead(200, { etag: '"e1"', 'cache-control': 'max-age=600', date })
    res.end('payload')
  })
  await car.get('/u/api/doc')
  assert.equal(await (await purge({ upstream: 'api', path: '/doc', soft: true })).json(), { purged: 1 })
  const after = await car.get('/u/api/doc')
  assert.is(after.body, 'payload')
  assert.match(after.headers.get('cache-status') ?? '', 'fwd-status=304')
  assert.is(upstream.received[1]!.headers['if-none-match'], '"e1"')
})

test('bad purge requests are 4xx problems', async () => {
  await setup(answer({}))
  const cases: [unknown, number][] = [
    [{}, 400],
    [{ upstream: 'api', path: '/a', prefix: '/b' }, 400],
    [{ upstream: 'api', path: 'no-slash' }, 400],
    [{ upstream: 'nope', path: '/a' }, 404],
    [{ surrogateKeys: [] }, 400],
    [{ surrogateKeys: ['k'], soft: true }, 400],
    [{ upstream: 'api', path: '/a', soft: 'yes' }, 400],
    [[], 400],
  ]
  for (const [body, status] of cases) assert.is((await purge(body)).status, status, JSON.stringify(body))
})

test('metrics count hits, misses and upstream latency per upstream', async () => {
  await setup(answer({ 'cache-control': 'max-age=60' }))
  await car.get('/u/api/m')
  await car.get('/u/api/m')
  const text = await (await fetch(`${car.url}/metrics`)).text()
  assert.match(text, 'cachecar_proxy_events_total{upstream="api",event="miss"} 1')
  assert.match(text, 'cachecar_proxy_events_total{upstream="api",event="hit"} 1')
  assert.match(text, 'cachecar_proxy_events_total{upstream="api",event="stored"} 1')
  assert.match(text, 'cachecar_upstream_duration_seconds_count{upstream="api"} 1')
})

test('102 Processing and 103 Early Hints reach the client before the final response, which is still cached', async () => {
  await setup((_req, res) => {
    res.writeProcessing()
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '4' })
      res.end('page')
    }, 20)
  })
  const { request } = await import('node:http')
  const hints: string[] = []
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: car.port, path: '/u/api/page' }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('information', (info) => hints.push(`${info.statusCode} ${info.headers.link ?? ''}`.trim()))
    req.on('error', reject)
    req.end()
  })
  assert.is(status, 200)
  assert.equal(hints, ['102', '103 </style.css>; rel=preload; as=style'], '102 and 103 relayed, in order')
  // The final response after them is stored as any other: the next request is a hit.
  const again = await car.get('/u/api/page')
  assert.match(again.headers.get('cache-status') ?? '', 'cachecar; hit')
  assert.is(upstream.received.length, 1)
})

test.run()
