// Issue 6 attacks: cache poisoning through unkeyed headers, cache deception, request smuggling, SSRF tricks and
// slowloris. Each test plays the attacker against a real upstream on loopback.
import { connect, type Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { rawUpstream, sendRaw } from '../helpers/raw-upstream.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

let car: TestCachecar | undefined
test.after.each(async () => {
  await car?.shutdown()
  car = undefined
})

test('unkeyed override headers never poison the cache for clean requests', async () => {
  const reflected = [
    'x-forwarded-host',
    'x-forwarded-scheme',
    'x-original-url',
    'x-rewrite-url',
    'x-http-method-override',
    'forwarded',
    'x-host',
  ]
  // An upstream that lets those headers shape the page (links, redirects, method), as real frameworks do.
  const upstream = await fakeUpstream((req, res) => {
    const shaped = reflected
      .map((name) => req.headers[name])
      .filter(Boolean)
      .join(' ')
    res.writeHead(200, { 'cache-control': 'max-age=600' }).end(shaped ? `page for ${shaped}` : 'clean page')
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  for (const [i, name] of reflected.entries()) {
    const poisoned = await car.raw('GET', `/u/api/page${i}`, { [name]: 'evil.example' })
    assert.match(poisoned.body, 'evil.example', `${name} reached the upstream`)
    assert.match(String(poisoned.headers['cache-status']), 'fwd=bypass; fwd-status=200; detail=unkeyed-header')
    const clean = await car.raw('GET', `/u/api/page${i}`)
    assert.is(clean.body, 'clean page', `${name} poisoned the stored page`)
    assert.match(
      String((await car.raw('GET', `/u/api/page${i}`)).headers['cache-status']),
      /^cachecar; hit/,
      'clean requests are still cached',
    )
  }
  await upstream.close()
})

test('cache deception: a personal page behind a static-looking URL is never stored without explicit permission', async () => {
  // The upstream ignores everything after /account and answers with the caller's page, as a framework route might.
  const upstream = await fakeUpstream((req, res) => {
    const user = /sid=(\w+)/.exec(req.headers.cookie ?? '')?.[1] ?? 'anonymous'
    const headers: Record<string, string> = {
      'last-modified': new Date(Date.now() - 86_400_000).toUTCString(),
      'content-type': 'text/css',
    }
    res.writeHead(200, headers).end(`account of ${user}`)
  })
  // Even with the operator's default TTL for upstreams that send no freshness at all.
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}`, CACHECAR_UPSTREAM_API_DEFAULT_TTL: '10m' })
  for (const path of ['/account/x.css', '/account;.js', '/account/..%2Fstyle.css', '/account%2Fx.png']) {
    const victim = await car.raw('GET', `/u/api${path}`, { cookie: 'sid=victim' })
    assert.is(victim.body, 'account of victim')
    assert.match(String(victim.headers['cache-status']), 'detail=cookie')
    const attacker = await car.raw('GET', `/u/api${path}`)
    assert.is(attacker.body, 'account of anonymous', `${path} served the victim's page`)
  }
  await upstream.close()
})

test('request smuggling probes are refused, and the upstream sees exactly the one honest request', async () => {
  const upstream = await fakeUpstream((_req, res) => res.writeHead(200, { 'content-length': '2' }).end('ok'))
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const smuggled = 'GET /u/api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
  const probes: [string, string][] = [
    [
      'CL.TE',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE.CL',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
    ],
    [
      'double Content-Length',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    ],
    [
      'Content-Length list',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0, ${smuggled.length}\r\n\r\n${smuggled}`,
    ],
    [
      'signed Content-Length',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nContent-Length: +${smuggled.length}\r\n\r\n${smuggled}`,
    ],
    [
      'TE twice',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE list',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE obfuscated name',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE obfuscated value',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE vertical tab',
      `POST /u/api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\u000bchunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'folded header',
      `GET /u/api/x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n${smuggled}`,
    ],
    [
      'bare LF line ends',
      `POST /u/api/x HTTP/1.1\nHost: x\nContent-Length: 0\nTransfer-Encoding: chunked\n\n0\n\n${smuggled}`,
    ],
  ]
  for (const [name, probe] of probes) {
    upstream.received.length = 0
    // One keep-alive connection: an honest request, its answer, then the probe with a request hidden in it.
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(car!.port, '127.0.0.1', () =>
        socket.write('GET /u/api/honest HTTP/1.1\r\nHost: x\r\n\r\n'),
      )
      let text = ''
      socket.on('data', (chunk) => {
        text += chunk
        if (text.endsWith('\r\n\r\nok') && !text.includes('400')) socket.write(probe)
      })
      socket.on('close', () => resolve(text))
      socket.on('error', () => resolve(text))
      socket.setTimeout(2000, () => socket.destroy())
    })
    assert.match(answer, /^HTTP\/1\.1 200 /, `${name}: the honest request was answered`)
    assert.match(answer, /HTTP\/1\.1 400 /, `${name}: the probe was refused`)
    assert.not.match(
      answer.slice(answer.indexOf('HTTP/1.1 400')),
      /HTTP\/1\.1 200/,
      `${name}: nothing answered after the refusal`,
    )
    assert.equal(
      upstream.received.map((r) => `${r.method} ${r.url}`),
      ['GET /honest'],
      name,
    )
  }
  await upstream.close()
})

test('SSRF: no path, Host or absolute-form trick reaches another host, link-local metadata addresses included', async () => {
  const trap = await rawUpstream((s) => s.destroy(), '127.0.0.2')
  const upstream = await fakeUpstream((_req, res) => res.writeHead(200, { 'content-length': '2' }).end('ok'))
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const trapHost = new URL(trap.url).host
  const paths = [
    `//${trapHost}/x`,
    `/\\${trapHost}/x`,
    `/\\\\${trapHost}/x`,
    `/%5C%5C${trapHost}/x`,
    `/..//${trapHost}/x`,
    `/http://${trapHost}/x`,
    `/http:%2F%2F${trapHost}/x`,
    `//169.254.169.254/latest/meta-data/`,
    `/http://[fd00:ec2::254]/latest/`,
  ]
  for (const path of paths) {
    const before = upstream.received.length
    const answer = await car.raw('GET', `/u/api${path}`)
    // Either forwarded as a path on the configured upstream, or refused (400 malformed, 404 no such upstream).
    if (answer.status === 200)
      assert.is(upstream.received.at(-1)?.url, path, `${path} stayed a path on the configured upstream`)
    else {
      assert.ok(answer.status === 400 || answer.status === 404, `${path}: ${answer.status}`)
      assert.match(answer.body, 'urn:cachecar:problem:', path)
      assert.is(upstream.received.length, before, `${path} was refused, not forwarded`)
    }
  }
  for (const name of [`api@${trapHost}`, `api:80@${trapHost}`, `api.${trapHost}`, `${trapHost}`]) {
    assert.is((await car.raw('GET', `/u/${name}/x`)).status, 404, `upstream name ${name}`)
  }
  for (const headers of [
    { host: trapHost },
    { 'x-forwarded-host': trapHost },
    { host: '169.254.169.254' },
    { forwarded: `host=${trapHost}` },
  ]) {
    assert.is((await car.raw('GET', '/u/api/x', headers)).status, 200)
  }
  for (const target of [`http://${trapHost}/u/api/x`, `http://169.254.169.254/latest/meta-data/`, `${trapHost}:80`]) {
    await sendRaw(car.port, `GET ${target} HTTP/1.1\r\nHost: ${trapHost}\r\n\r\n`, { waitMs: 500 })
  }
  assert.is(trap.connections(), 0, 'the trap listener never got a connection')
  await trap.close()
  await upstream.close()
})

test('slowloris: idle header senders are cut off within the headers timeout, while normal requests keep their latency', async () => {
  car = await startCachecar({ CACHECAR_HEADERS_TIMEOUT_MS: '600ms', CACHECAR_REQUEST_TIMEOUT_MS: '1s' })
  const port = car.port
  const quiet: number[] = []
  for (let i = 0; i < 30; i++) {
    const started = performance.now()
    await car.get('/healthz')
    quiet.push(performance.now() - started)
  }
  // 200 connections that each send a byte of headers every 100 ms and never finish.
  const closedAfter: number[] = []
  const slow: Socket[] = []
  const opened = performance.now()
  for (let i = 0; i < 200; i++) {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'))
    const drip = setInterval(() => socket.writable && socket.write('X'), 100)
    socket.on('close', () => {
      clearInterval(drip)
      closedAfter.push(performance.now() - opened)
    })
    socket.on('error', () => {})
    slow.push(socket)
  }
  const busy: number[] = []
  for (let i = 0; i < 30; i++) {
    const started = performance.now()
    assert.is((await car.get('/healthz')).status, 200)
    busy.push(performance.now() - started)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const deadline = performance.now() + 3000
  while (closedAfter.length < 200 && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50))
  for (const socket of slow) socket.destroy()
  const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!
  assert.is(closedAfter.length, 200, 'every slow sender was cut off')
  assert.ok(
    Math.max(...closedAfter) < 2000,
    `the last was cut after ${Math.max(...closedAfter).toFixed(0)} ms (headers timeout 600 ms)`,
  )
  assert.ok(
    p95(busy) < Math.max(50, p95(quiet) * 10),
    `p95 ${p95(busy).toFixed(1)} ms under slowloris vs ${p95(quiet).toFixed(1)} ms quiet`,
  )
})

test.run()
