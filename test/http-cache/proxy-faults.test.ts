// The proxy under upstream faults: refused, hanging, cut bodies, 5xx, oversized bodies; no request escapes.
import type { Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { eventually, headersOf, rawUpstream, sendRaw } from '../helpers/raw-upstream.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

let car: TestCachecar | undefined
test.after.each(async () => {
  await car?.shutdown()
  car = undefined
})

test('a refused connection is a 502 problem, quickly', async () => {
  const closed = await rawUpstream(() => {})
  const url = closed.url
  await closed.close()
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${url}` })
  const started = performance.now()
  const response = await car.get('/u/api/x')
  assert.is(response.status, 502)
  assert.match(response.body, 'urn:cachecar:problem:upstream-unreachable')
  assert.match(response.body, 'refused')
  assert.ok(performance.now() - started < 2000)
  // RFC 9211: the problem says why it went upstream and what failed, as every proxied answer does.
  assert.is(response.headers.get('cache-status'), 'cachecar; fwd=uri-miss; detail=upstream-unreachable')
  const posted = await car.raw('DELETE', '/u/api/x')
  assert.is(posted.headers['cache-status'], 'cachecar; fwd=method; detail=upstream-unreachable')
})

test('a stale copy stands in when the upstream cannot be reached (RFC 9111 §4.2.4), within its window', async () => {
  const upstream = await fakeUpstream((req, res) => {
    const strict = req.url === '/strict' ? ', must-revalidate' : ''
    res.writeHead(200, { 'cache-control': `max-age=10${strict}`, date: new Date(car!.clock.now()).toUTCString() })
    res.end(`good ${req.url}`)
  })
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_STALE_IF_UNREACHABLE: '10m',
  })
  await car.get('/u/api/plain')
  await car.get('/u/api/strict')
  await upstream.close() // refused from now on
  car.clock.advance(60_000)
  const stale = await car.get('/u/api/plain')
  assert.is(stale.status, 200)
  assert.is(stale.body, 'good /plain')
  assert.is(stale.headers.get('cache-status'), 'cachecar; hit; fwd=stale; ttl=-50; detail=upstream-unreachable')
  assert.is((await car.get('/u/api/strict')).status, 502, 'must-revalidate: the failure is passed on')
  car.clock.advance(10 * 60_000)
  assert.is((await car.get('/u/api/plain')).status, 502, 'past the 10 minutes the failure is passed on')
})

test('CACHECAR_UPSTREAM_<NAME>_STALE_IF_UNREACHABLE=0 passes every failure on', async () => {
  const upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=10', date: new Date(car!.clock.now()).toUTCString() })
    res.end('good')
  })
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_STALE_IF_UNREACHABLE: '0',
  })
  await car.get('/u/api/x')
  await upstream.close()
  car.clock.advance(60_000)
  assert.is((await car.get('/u/api/x')).status, 502)
})

test('an upstream that never answers is a 504 after the headers timeout', async () => {
  const hang = await rawUpstream(() => {})
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${hang.url}`,
    CACHECAR_UPSTREAM_API_HEADERS_TIMEOUT_MS: '300ms',
  })
  const started = performance.now()
  const response = await car.get('/u/api/x')
  const elapsed = performance.now() - started
  assert.is(response.status, 504)
  assert.match(response.body, 'urn:cachecar:problem:upstream-timeout')
  assert.is(response.headers.get('cache-status'), 'cachecar; fwd=uri-miss; detail=headers-timeout')
  assert.ok(elapsed >= 250 && elapsed < 3000, `answered after ${elapsed.toFixed(0)} ms`)
  await hang.close()
})

test('a body cut short is never stored: a declared length aborts the client response, a chunked one is a 502', async () => {
  for (const [cut, expected] of [
    [
      (s: Socket) => {
        s.write(`${headersOf(200, 'cache-control: max-age=60\r\ncontent-length: 100\r\n')}only part`)
        s.destroy()
      },
      'aborted', // the fields (and part of the body) had left: the client sees the cut
    ],
    [
      (s: Socket) => {
        s.write(`${headersOf(200, 'cache-control: max-age=60\r\ntransfer-encoding: chunked\r\n')}5\r\nhello\r\n`)
        s.destroy()
      },
      // A storable chunked body is read before anything is answered: nothing had left, so a clean problem.
      '502 urn:cachecar:problem:upstream-body-failed cachecar; fwd=uri-miss; detail=upstream-body-failed',
    ],
  ] as const) {
    const upstream = await rawUpstream(cut)
    car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
    const first = await fetch(`${car.url}/u/api/x`)
      .then(async (r) => {
        const text = await r.text()
        if (r.status === 200) return 'complete'
        return `${r.status} ${(JSON.parse(text) as { type: string }).type} ${r.headers.get('cache-status')}`
      })
      .catch(() => 'aborted')
    assert.is(first, expected)
    await fetch(`${car.url}/u/api/x`)
      .then((r) => r.text())
      .catch(() => {})
    assert.is(upstream.connections(), 2, 'nothing was stored, so the second request went upstream again')
    await car.shutdown()
    car = undefined
    await upstream.close()
  }
})

test('5xx without explicit freshness pass through unstored; with max-age they are stored (RFC 9111 §3, changed)', async () => {
  // Requests arrive one connection each, in order: two to /plain, then one to /fresh.
  let answered = 0
  const upstream = await rawUpstream((s) => {
    const fresh = ++answered > 2
    s.end(`${headersOf(503, `${fresh ? 'cache-control: max-age=60\r\n' : ''}content-length: 4\r\n`)}down`)
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  assert.is((await car.get('/u/api/plain')).status, 503)
  assert.is((await car.get('/u/api/plain')).status, 503)
  assert.is(upstream.connections(), 2, 'a 503 without freshness goes upstream every time')
  const first = await car.get('/u/api/fresh')
  assert.is(first.status, 503)
  assert.is(first.headers.get('cache-status'), 'cachecar; fwd=uri-miss; fwd-status=503; stored')
  const again = await car.get('/u/api/fresh')
  assert.is(again.status, 503)
  assert.match(again.headers.get('cache-status') ?? '', 'cachecar; hit')
  assert.is(upstream.connections(), 3, 'a 503 with max-age=60 shields the upstream for its minute')
  const metrics = await (await fetch(`${car.url}/metrics`)).text()
  assert.match(
    metrics,
    'cachecar_http_requests_total{method="GET",route="/u/:name/*",status="503"} 4',
    'streamed and stored answers are counted with the status sent',
  )
  await upstream.close()
})

test('CACHECAR_UPSTREAM_<NAME>_STORE_5XX=false keeps every 5xx out, max-age or not', async () => {
  const upstream = await rawUpstream((s) =>
    s.end(`${headersOf(503, 'cache-control: max-age=60\r\ncontent-length: 4\r\n')}down`),
  )
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}`, CACHECAR_UPSTREAM_API_STORE_5XX: 'false' })
  const first = await car.get('/u/api/x')
  assert.is(first.headers.get('cache-status'), 'cachecar; fwd=uri-miss; fwd-status=503; detail=status')
  assert.is((await car.get('/u/api/x')).status, 503)
  assert.is(upstream.connections(), 2)
  await upstream.close()
})

test('a response over the maximum object size streams through whole and is not stored', async () => {
  const big = 'y'.repeat(200_000)
  const upstream = await rawUpstream((s) =>
    s.end(headersOf(200, `cache-control: max-age=60\r\ncontent-length: ${big.length}\r\n`) + big),
  )
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_MAX_OBJECT_BYTES: '64KiB',
  })
  const first = await car.get('/u/api/big')
  assert.is(first.body.length, big.length)
  assert.match(first.headers.get('cache-status') ?? '', 'detail=too-large')
  await car.get('/u/api/big')
  assert.is(upstream.connections(), 2)
  await upstream.close()
})

test('a chunked response that grows past the maximum object size is served whole and not stored', async () => {
  const chunk = 'z'.repeat(30_000)
  const upstream = await rawUpstream((s) => {
    s.write(headersOf(200, 'cache-control: max-age=60\r\ntransfer-encoding: chunked\r\n'))
    for (let i = 0; i < 5; i++) s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
    s.end('0\r\n\r\n')
  })
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_MAX_OBJECT_BYTES: '64KiB',
  })
  const first = await car.get('/u/api/big')
  assert.is(first.body.length, 150_000)
  // The body was read up to the limit before the fields left: Cache-Status says why it was not stored.
  assert.is(first.headers.get('cache-status'), 'cachecar; fwd=uri-miss; fwd-status=200; detail=too-large')
  await car.get('/u/api/big')
  assert.is(upstream.connections(), 2)
  await upstream.close()
})

test('a chunked response within the maximum object size is read first: stored, said so, with its length', async () => {
  const upstream = await rawUpstream((s) => {
    s.write(
      headersOf(200, 'cache-control: max-age=60, private="x-user"\r\nx-user: ada\r\ntransfer-encoding: chunked\r\n'),
    )
    for (const part of ['hello ', 'chunked ', 'world']) s.write(`${part.length.toString(16)}\r\n${part}\r\n`)
    s.end('0\r\n\r\n')
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const first = await car.get('/u/api/small')
  assert.is(first.body, 'hello chunked world')
  assert.is(first.headers.get('cache-status'), 'cachecar; fwd=uri-miss; fwd-status=200; ttl=60; stored')
  assert.is(first.headers.get('content-length'), '19')
  assert.is(first.headers.get('x-user'), 'ada', 'the fetching client sees the field private="x-user" withholds')
  const second = await car.get('/u/api/small')
  assert.is(second.body, 'hello chunked world')
  assert.is(second.headers.get('cache-status'), 'cachecar; hit; ttl=60')
  assert.is(second.headers.get('x-user'), null, 'later clients do not')
  assert.is(upstream.connections(), 1)
  await upstream.close()
})

test('a client gone while a chunked body is read ends the upstream body once it proves too large to keep', async () => {
  const chunk = 'z'.repeat(40_000)
  const sockets: Socket[] = []
  const upstream = await rawUpstream((s) => {
    sockets.push(s)
    s.write(headersOf(200, 'cache-control: max-age=60\r\ntransfer-encoding: chunked\r\n'))
    s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`) // and never ends: the rest comes when the test says
  })
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_MAX_OBJECT_BYTES: '64KiB',
  })
  const gone = new AbortController()
  const request = fetch(`${car.url}/u/api/endless`, { signal: gone.signal }).catch(() => 'aborted')
  assert.ok(await eventually(() => sockets.length === 1))
  gone.abort()
  assert.is(await request, 'aborted')
  await new Promise((resolve) => setTimeout(resolve, 50)) // the client's close reaches cachecar
  sockets[0]!.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`) // past 64 KiB: it will not be kept
  // (undici may open a fresh idle connection after an aborted request: the one that carried the body is what counts.)
  assert.ok(await eventually(() => sockets[0]!.destroyed), 'nobody reads it: its upstream connection is closed')
  await upstream.close()
})

test('a live event stream with max-age is passed on as it comes, never gathered or stored', async () => {
  const sockets: Socket[] = []
  const upstream = await rawUpstream((s) => {
    sockets.push(s)
    s.write(
      headersOf(200, 'cache-control: max-age=60\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n'),
    )
    const event = 'data: first\n\n'
    s.write(`${event.length.toString(16)}\r\n${event}\r\n`) // and the stream stays open
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const response = await fetch(`${car.url}/u/api/events`)
  assert.is(response.headers.get('cache-status'), 'cachecar; fwd=uri-miss; fwd-status=200; detail=event-stream')
  const reader = response.body!.getReader()
  const first = await reader.read()
  assert.is(
    new TextDecoder().decode(first.value),
    'data: first\n\n',
    'the first event arrives while the stream is open',
  )
  await reader.cancel()
  sockets[0]!.destroy()
  await upstream.close()
})

test('a trap listener on another loopback address never gets a connection', async () => {
  const trap = await rawUpstream((s) => s.destroy(), '127.0.0.2')
  const upstream = await rawUpstream((s) => s.end(`${headersOf(200, 'content-length: 2\r\n')}ok`))
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const trapHost = new URL(trap.url).host
  for (const path of [`//${trapHost}/x`, `/http://${trapHost}/x`, `/@${trapHost}/x`, `/%2F%2F${trapHost}/x`])
    await car.raw('GET', `/u/api${path}`)
  await car.raw('GET', `/u/api/x`, { host: trapHost, 'x-forwarded-host': trapHost })
  await car.raw('GET', `http://${trapHost}/u/api/x`).catch(() => {})
  assert.is(trap.connections(), 0)
  assert.ok(upstream.connections() >= 1)
  await trap.close()
  await upstream.close()
})

test('ambiguous framing is answered 400 and never forwarded', async () => {
  const upstream = await rawUpstream((s) => s.end(`${headersOf(200, 'content-length: 2\r\n')}ok`))
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const probes = [
    'POST /u/api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST /u/api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    'POST /u/api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
    'GET /u/api/x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
  ]
  for (const probe of probes) {
    const answer = await sendRaw(car.port, probe)
    assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(probe))
  }
  assert.is(upstream.connections(), 0)
  await upstream.close()
})

test.run()
