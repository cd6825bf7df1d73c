// The Node listener in front of the proxy: what it takes, and what an error inside the proxy becomes.
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../../src/config.ts'
import { errorProblem } from '../../src/wiring/error-problems.ts'
import { createFlights } from '../../src/http-cache/proxy/flights.ts'
import { proxyListener } from '../../src/http-cache/proxy/listener.ts'
import { ResponseCache } from '../../src/http-cache/response-cache.ts'
import { Upstream } from '../../src/http-cache/proxy/upstream.ts'
import { createMetrics } from '../../src/ops/metrics.ts'
import { StoreBusyError, type Store } from '../../src/store/types.ts'
import { capturingLogger } from '../helpers/logs.ts'

interface Harness {
  server: Server
  port: number
  logs: string[]
  recorded: string[]
  passedOn: string[]
  upstream: Upstream
}

/** The listener over a store whose every read throws `failure`; requests it does not take are answered 299. */
async function harness(failure: Error): Promise<Harness> {
  const config = loadConfig({ CACHECAR_UPSTREAMS: 'api=http://127.0.0.1:9', CACHECAR_DB_PATH: ':memory:' })
  const { logger, logs } = capturingLogger('warn')
  const metrics = createMetrics(() => undefined)
  const failing = { get: () => Promise.reject(failure) } as unknown as Store
  const upstream = new Upstream(config.upstreams[0]!)
  const recorded: string[] = []
  const passedOn: string[] = []
  const listener = proxyListener(
    {
      upstreams: new Map([['api', upstream]]),
      cache: new ResponseCache(failing),
      flights: createFlights(),
      now: Date.now,
      logger,
    },
    (method, route, status) => recorded.push(`${method} ${route} ${status}`),
    (error, req) => errorProblem(error, req, metrics, logger),
  )
  const server = createServer((req, res) => {
    if (listener(req, res)) return
    passedOn.push(req.url ?? '')
    res.writeHead(299).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  current = { server, port: (server.address() as AddressInfo).port, logs, recorded, passedOn, upstream }
  return current
}

function send(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => {
        body += c
      })
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body, headers: res.headers }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

let current: Harness | undefined

// After each test, pass or fail: an open server would keep the test process alive.
test.after.each(async () => {
  if (!current) return
  await current.upstream.close()
  await new Promise((resolve) => current!.server.close(resolve))
  current = undefined
})

test('an unexpected error inside the proxy is a 500 problem, logged once and counted with its route', async () => {
  const h = await harness(new Error('disk on fire'))
  const answer = await send(h.port, '/u/api/items?token=s3cret')
  assert.is(answer.status, 500)
  assert.is(answer.type, 'application/problem+json')
  assert.match(answer.body, 'urn:cachecar:problem:internal')
  assert.not.match(answer.body, 'disk on fire', 'internal details stay in the log')
  assert.is(h.logs.filter((line) => line.includes('"unhandled_error"') && line.includes('disk on fire')).length, 1)
  assert.ok(
    h.logs.some((line) => line.includes('"path":"/u/api/items"')),
    'the path is logged',
  )
  assert.not.ok(
    h.logs.some((line) => line.includes('s3cret')),
    'the query string is not: it may carry a secret',
  )
  assert.equal(h.recorded, ['GET /u/:name/* 500'])
})

test('a store that stays locked is a 503 problem with Retry-After', async () => {
  const h = await harness(new StoreBusyError('locked'))
  const answer = await send(h.port, '/u/api')
  assert.is(answer.status, 503)
  assert.is(answer.headers['retry-after'], '1')
  assert.match(answer.body, 'urn:cachecar:problem:store-busy')
  assert.equal(h.recorded, ['GET /u/:name 503'])
})

test('an unknown upstream is a 404 problem; other targets are passed on untouched', async () => {
  const h = await harness(new Error('not reached'))
  assert.match((await send(h.port, '/u/nope/x')).body, 'urn:cachecar:problem:unknown-upstream')
  assert.is((await send(h.port, '/v1/kv/ns/k')).status, 299)
  assert.is((await send(h.port, '/u/')).status, 299)
  assert.equal(h.passedOn, ['/v1/kv/ns/k', '/u/'])
})

test('a Transfer-Encoding other than chunked is refused before the cache or the upstream is touched', async () => {
  const h = await harness(new Error('the store was read'))
  const answer = await send(h.port, '/u/api/x', { 'transfer-encoding': 'gzip, chunked' })
  assert.is(answer.status, 400)
  assert.match(answer.body, 'urn:cachecar:problem:bad-framing')
  assert.is(h.logs.length, 0, 'the failing store was never read')
})

test.run()
