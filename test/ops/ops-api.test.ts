// Auth, store failures as 503/507, health, readiness and metrics.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryStore } from '../../src/store/memory-store.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { StoreBusyError } from '../../src/store/types.ts'
import { problemOf, testApp } from '../helpers/app.ts'

const TOKEN = 'correct-horse-battery-staple'

test('with a token, /v1 routes need the right bearer token; health and metrics stay open', async () => {
  const { request } = testApp({ CACHECAR_TOKEN: TOKEN })
  const missing = await request('/v1/kv/app/k')
  assert.is(missing.status, 401)
  assert.is(missing.headers.get('www-authenticate'), 'Bearer realm="cachecar"')
  assert.is((await problemOf(missing)).type, 'urn:cachecar:problem:unauthorized')
  for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
    assert.is((await request('/v1/kv/app/k', { headers: { authorization } })).status, 401, authorization)
  }
  assert.is((await request('/v1/kv/app/k', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404)
  assert.is((await request('/v1/kv/_purge', { method: 'POST', body: '{"tags":["x"]}' })).status, 401)
  for (const open of ['/healthz', '/readyz', '/metrics']) assert.is((await request(open)).status, 200, open)
})

test('a known route asked with another method is 405 with Allow (RFC 9110 §15.5.6); an unknown one is 404', async () => {
  const { request } = testApp({})
  const rows: [string, string, string][] = [
    ['PATCH', '/v1/kv/app/k', 'DELETE, GET, HEAD, PUT'],
    ['POST', '/v1/kv/app/k', 'DELETE, GET, HEAD, PUT'],
    ['GET', '/v1/kv/app/k/incr', 'POST'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/metrics', 'GET, HEAD'],
    ['PUT', '/v1/sessions', 'DELETE, POST'],
  ]
  for (const [method, path, allow] of rows) {
    const response = await request(path, { method, ...(method !== 'GET' && { body: '' }) })
    assert.is(response.status, 405, `${method} ${path}`)
    assert.is(response.headers.get('allow'), allow, `${method} ${path}`)
    assert.is((await problemOf(response)).type, 'urn:cachecar:problem:method-not-allowed')
  }
  assert.is((await request('/nowhere')).status, 404)
  assert.is((await request('/v1/kv/app/k/extra/segments')).status, 404)
})

test('the token never appears in logs', async () => {
  const { request, logs } = testApp({ CACHECAR_TOKEN: TOKEN })
  await request('/v1/kv/app/k', { headers: { authorization: `Bearer ${TOKEN}` } })
  await request('/v1/kv/app/k', { headers: { authorization: 'Bearer wrong-token-value-here' } })
  assert.ok(logs.length > 0, 'requests were logged at debug level')
  assert.not.match(logs.join(''), TOKEN)
})

test('a write that cannot fit even after eviction is 507, and the store keeps serving', async () => {
  const { request } = testApp(
    {},
    (clock, config) => new SqliteStore({ path: ':memory:', maxBytes: config.maxBytes, maxPages: 32, now: clock.now }),
  )
  const full = await request('/v1/kv/app/huge', { method: 'PUT', body: new Uint8Array(512 * 1024) })
  assert.is(full.status, 507)
  assert.is((await problemOf(full)).type, 'urn:cachecar:problem:insufficient-storage')
  assert.is((await request('/v1/kv/app/huge')).status, 404)
  assert.is((await request('/v1/kv/app/small', { method: 'PUT', body: 'ok' })).status, 201)
})

test('a database locked through every retry is 503 with Retry-After, never "database is locked"', async () => {
  class LockedStore extends MemoryStore {
    override async set(): Promise<never> {
      throw new StoreBusyError('database stayed locked through 8 attempts')
    }
  }
  const { request, metrics } = testApp({}, (clock) => new LockedStore({ maxBytes: 1e6, now: clock.now }))
  const response = await request('/v1/kv/app/k', { method: 'PUT', body: 'v' })
  assert.is(response.status, 503)
  assert.is(response.headers.get('retry-after'), '1')
  const problem = await problemOf(response)
  assert.is(problem.type, 'urn:cachecar:problem:store-busy')
  assert.not.match(problem.detail, 'database is locked')
  assert.match(await metrics(), 'cachecar_store_errors_total{kind="busy"} 1')
})

test('an unexpected failure is a 500 problem without internals, and is logged', async () => {
  class BrokenStore extends MemoryStore {
    override async get(): Promise<never> {
      throw new Error('secret internal detail')
    }
  }
  const { request, logs } = testApp({}, (clock) => new BrokenStore({ maxBytes: 1e6, now: clock.now }))
  const response = await request('/v1/kv/app/k')
  assert.is(response.status, 500)
  assert.not.match(JSON.stringify(await problemOf(response)), 'secret internal detail')
  assert.match(logs.join(''), 'unhandled_error')
})

test('/healthz is cheap; /readyz proves a store read and write and fails when the store cannot', async () => {
  const { request, store } = testApp()
  assert.equal(await (await request('/healthz')).json(), { status: 'ok' })
  assert.equal(await (await request('/readyz')).json(), { status: 'ready' })
  await store.close()
  const broken = await request('/readyz')
  assert.is(broken.status, 503)
  assert.is((await problemOf(broken)).type, 'urn:cachecar:problem:store-unavailable')
  assert.is((await request('/healthz')).status, 200, 'liveness does not depend on the store')
})

test('/metrics reports requests by route, hits and misses, entries and bytes', async () => {
  const { request } = testApp()
  await request('/v1/kv/app/k', { method: 'PUT', body: 'v' })
  await request('/v1/kv/app/k')
  await request('/v1/kv/app/k')
  await request('/v1/kv/app/missing')
  const response = await request('/metrics')
  assert.match(response.headers.get('content-type') ?? '', 'text/plain')
  const text = await response.text()
  assert.match(text, 'cachecar_http_requests_total{method="GET",route="/v1/kv/:namespace/:key",status="200"} 2')
  assert.match(text, 'cachecar_kv_lookups_total{result="hit"} 2')
  assert.match(text, 'cachecar_kv_lookups_total{result="miss"} 1')
  assert.match(text, 'cachecar_store_entries 1')
  assert.match(text, /cachecar_store_bytes [1-9]\d*/)
  assert.match(text, /cachecar_store_data_bytes [1-9]\d*/)
  assert.match(text, /cachecar_store_wal_bytes \d+/)
  assert.match(text, 'cachecar_http_request_duration_seconds_bucket')
  assert.match(text, 'nodejs_eventloop_lag_p99_seconds')
  assert.not.match(text, 'route="/v1/kv/app/k"', 'routes are labelled by pattern, not by key')
  // No shared tier configured: none of its families, so no cachecar_shared_up 0 to fire its alerts.
  assert.not.match(text, /cachecar_shared_|cachecar_tier_reads/)
})

test.run()
