// CACHECAR_UPSTREAMS and per-upstream settings.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, loadConfig } from '../src/config.ts'

test('upstreams are parsed by name with their base path and defaults', () => {
  const { upstreams } = loadConfig({
    CACHECAR_UPSTREAMS: 'api=https://api.example.com, auth=http://10.0.0.5:8080/base/',
    CACHECAR_UPSTREAM_AUTH_CONNECTIONS: '8', CACHECAR_UPSTREAM_AUTH_DEFAULT_TTL: '30s',
  })
  assert.equal(upstreams.map((u) => [u.name, u.origin, u.basePath]), [
    ['api', 'https://api.example.com', ''], ['auth', 'http://10.0.0.5:8080', '/base'],
  ])
  assert.is(upstreams[0]!.connections, 64)
  assert.is(upstreams[0]!.defaultTtlMs, 0, 'default TTL is opt-in')
  assert.is(upstreams[0]!.maxObjectBytes, 8 * 1024 ** 2)
  assert.is(upstreams[1]!.connections, 8)
  assert.is(upstreams[1]!.defaultTtlMs, 30_000)
})

test('bad upstream settings are named, one line each', () => {
  try {
    loadConfig({
      CACHECAR_UPSTREAMS: 'api=ftp://x, Bad=http://x, creds=http://u:p@x, q=http://x/?a=1, dup=http://a, dup=http://b, ok=http://x',
      CACHECAR_UPSTREAM_OK_CONNECTIONS: 'many',
    })
    assert.unreachable()
  } catch (error) {
    assert.instance(error, ConfigError)
    const problems = (error as ConfigError).problems
    assert.ok(problems.some((p) => p.includes('"api" must be an http:// or https:// URL')), problems.join('\n'))
    assert.ok(problems.some((p) => p.includes('"Bad=http://x"')))
    assert.ok(problems.some((p) => p.includes('must not carry credentials')))
    assert.ok(problems.some((p) => p.includes('must not have a query')))
    assert.ok(problems.some((p) => p.includes('names the upstream "dup" twice')))
    assert.ok(problems.some((p) => p.startsWith('CACHECAR_UPSTREAM_OK_CONNECTIONS must be an integer')))
  }
})

test.run()
