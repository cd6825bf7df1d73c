// Unkeyed request fields cannot poison the cache: every known override, under every spelling a CGI-style upstream
// folds into it, bypasses the cache both ways; upstreams add their own names; credential-like fields count as
// Authorization when a default TTL would otherwise store their answers.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../../src/config.ts'
import { UNKEYED_OVERRIDES } from '../../src/http-cache/proxy/request-fields.ts'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

let upstream: FakeUpstream
let car: TestCachecar

async function setup(headers: Record<string, string>, env: Record<string, string> = {}): Promise<void> {
  upstream = await fakeUpstream((req, res) => {
    res.writeHead(200, { date: new Date(car.clock.now()).toUTCString(), ...headers })
    // The answer depends on the field, as a poisonable upstream's does.
    res.end(
      `page for ${String(req.headers['x-forwarded-host'] ?? req.headers.x_forwarded_host ?? req.headers['x-api-key'] ?? 'everyone')} #${upstream.received.length}`,
    )
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}`, ...env })
}

test.after.each(async () => {
  await car?.shutdown()
  await upstream?.close()
})

/** "x-forwarded-host" → the spellings that reach a CGI-style upstream as the same variable. */
const spellings = (name: string) => [
  name,
  name.replaceAll('-', '_'),
  name.toUpperCase().replaceAll('-', '_'),
  name
    .split('-')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('_'),
]

test('every known override, however spelled, bypasses the cache: its answer is not stored, nor is a stored one served to it', async () => {
  await setup({ 'cache-control': 'max-age=600' })
  const named = [
    'x-forwarded-host',
    'x-forwarded-ssl',
    'front-end-https',
    'x-forwarded-protocol',
    'x-url-scheme',
    'x-original-uri',
    'x-forwarded-uri',
    'x-real-ip',
    'true-client-ip',
    'x-proxyuser-ip',
    'x-forwarded-server',
  ]
  for (const name of named) assert.ok(UNKEYED_OVERRIDES.includes(name), `${name} is on the list`)
  await car.get('/u/api/page') // stored for everyone
  for (const name of UNKEYED_OVERRIDES) {
    for (const spelled of spellings(name)) {
      const before = upstream.received.length
      const poisoned = await car.raw('GET', '/u/api/page', { [spelled]: 'evil.example' })
      assert.match(String(poisoned.headers['cache-status']), 'fwd=bypass', `${spelled} was not treated as unkeyed`)
      assert.match(String(poisoned.headers['cache-status']), 'detail=unkeyed-header')
      assert.is(upstream.received.length, before + 1, `${spelled} was answered from the cache`)
    }
  }
  const plain = await car.get('/u/api/page')
  assert.is(plain.body, 'page for everyone #1', 'a poisoned answer was stored')
})

test('an upstream adds its own unkeyed field names; a bad list is a configuration error', async () => {
  await setup({ 'cache-control': 'max-age=600' }, { CACHECAR_UPSTREAM_API_UNKEYED_FIELDS: 'X-Tenant-Hint, x-theme' })
  await car.get('/u/api/page')
  for (const field of ['x-tenant-hint', 'X_Tenant_Hint', 'x-theme']) {
    assert.match(
      String((await car.raw('GET', '/u/api/page', { [field]: 'other' })).headers['cache-status']),
      'detail=unkeyed-header',
    )
  }
  assert.match((await car.get('/u/api/page')).headers.get('cache-status') ?? '', 'hit')
  assert.throws(
    () => loadConfig({ CACHECAR_UPSTREAMS: 'api=http://x', CACHECAR_UPSTREAM_API_UNKEYED_FIELDS: 'x-ok, bad field' }),
    /CACHECAR_UPSTREAM_API_UNKEYED_FIELDS must be a comma-separated list/,
  )
})

test('X-Forwarded-For and -Proto reach the upstream as cachecar sets them, whatever spelling the client used', async () => {
  await setup({ 'cache-control': 'no-store' })
  await car.raw('GET', '/u/api/page', {
    X_Forwarded_Proto: 'https',
    x_forwarded_for: '6.6.6.6',
    'x-forwarded-for': '10.0.0.1',
  })
  const seen = upstream.received[0]!.headers
  assert.is(seen['x-forwarded-proto'], 'http')
  assert.is(seen.x_forwarded_proto, undefined)
  assert.is(seen.x_forwarded_for, undefined)
  assert.is(seen['x-forwarded-for'], '10.0.0.1, 127.0.0.1')
})

test('with a default TTL, a credential-like field counts as Authorization: stored only when the response says public', async () => {
  await setup(
    {},
    { CACHECAR_UPSTREAM_API_DEFAULT_TTL: '60', CACHECAR_UPSTREAM_API_CREDENTIAL_FIELDS: 'x-partner-secret' },
  )
  for (const [field, path] of [
    ['x-api-key', '/a'],
    ['X_Api_Key', '/b'],
    ['x-auth-token', '/c'],
    ['x-amz-security-token', '/d'],
    ['x-partner-secret', '/e'],
  ] as const) {
    const first = await car.raw('GET', `/u/api${path}`, { [field]: 'alice-key' })
    assert.match(String(first.headers['cache-status']), 'detail=authorization', `${field}'s answer was stored`)
    const other = await car.get(`/u/api${path}`)
    assert.not.match(other.body, 'alice', `a later request got the answer to ${field}`)
  }
  upstream.handle = (_req, res) => {
    res.writeHead(200, { 'cache-control': 'public', date: new Date(car.clock.now()).toUTCString() })
    res.end('public page')
  }
  await car.raw('GET', '/u/api/public', { 'x-api-key': 'alice-key' })
  assert.match((await car.get('/u/api/public')).headers.get('cache-status') ?? '', 'hit')
})

test.run()
