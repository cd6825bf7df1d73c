// CACHECAR_UPSTREAMS and per-upstream settings.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, loadConfig } from '../../src/config.ts'

test('upstreams are parsed by name with their base path and defaults', () => {
  const { upstreams } = loadConfig({
    CACHECAR_UPSTREAMS: 'api=https://api.example.com, auth=http://10.0.0.5:8080/base/',
    CACHECAR_UPSTREAM_AUTH_CONNECTIONS: '8',
    CACHECAR_UPSTREAM_AUTH_DEFAULT_TTL: '30s',
  })
  assert.equal(
    upstreams.map((u) => [u.name, u.origin, u.basePath]),
    [
      ['api', 'https://api.example.com', ''],
      ['auth', 'http://10.0.0.5:8080', '/base'],
    ],
  )
  assert.is(upstreams[0]!.connections, 64)
  assert.is(upstreams[0]!.defaultTtlMs, 0, 'default TTL is opt-in')
  assert.is(upstreams[0]!.maxObjectBytes, 8 * 1024 ** 2)
  assert.is(upstreams[1]!.connections, 8)
  assert.is(upstreams[1]!.defaultTtlMs, 30_000)
})

test('bad upstream settings are named, one line each', () => {
  try {
    loadConfig({
      CACHECAR_UPSTREAMS:
        'api=ftp://x, Bad=http://x, creds=http://u:p@x, q=http://x/?a=1, dup=http://a, dup=http://b, ok=http://x',
      CACHECAR_UPSTREAM_OK_CONNECTIONS: 'many',
    })
    assert.unreachable()
  } catch (error) {
    assert.instance(error, ConfigError)
    const problems = (error as ConfigError).problems
    assert.ok(
      problems.some((p) => p.includes('"api" must be an http:// or https:// URL')),
      problems.join('\n'),
    )
    assert.ok(problems.some((p) => p.includes('"Bad=http://x"')))
    assert.ok(problems.some((p) => p.includes('must not carry credentials')))
    assert.ok(problems.some((p) => p.includes('must not have a query')))
    assert.ok(problems.some((p) => p.includes('names the upstream "dup" twice')))
    assert.ok(problems.some((p) => p.startsWith('CACHECAR_UPSTREAM_OK_CONNECTIONS must be an integer')))
  }
})

test('a JSON file named by CACHECAR_CONFIG defines upstreams; the environment overrides it', async () => {
  const { writeFileSync } = await import('node:fs')
  const { tempDir } = await import('../helpers/tmp.ts')
  const dir = tempDir()
  const path = `${dir.path}/cachecar.json`
  writeFileSync(
    path,
    JSON.stringify({
      upstreams: {
        api: { url: 'https://api.example.com/v1', headersTimeoutMs: 5000, defaultTtl: '60s' },
        auth: { url: 'http://auth.local' },
      },
    }),
  )
  const { upstreams } = loadConfig({ CACHECAR_CONFIG: path, CACHECAR_UPSTREAM_API_HEADERS_TIMEOUT_MS: '7s' })
  assert.equal(
    upstreams.map((u) => [u.name, u.origin, u.basePath]),
    [
      ['api', 'https://api.example.com', '/v1'],
      ['auth', 'http://auth.local', ''],
    ],
  )
  assert.is(upstreams[0]!.headersTimeoutMs, 7000, 'the environment wins')
  assert.is(upstreams[0]!.defaultTtlMs, 60_000)
  writeFileSync(path, JSON.stringify({ upstreams: { api: { url: 'https://x', colour: 'blue' } } }))
  assert.throws(() => loadConfig({ CACHECAR_CONFIG: path }), /unknown or non-scalar option "colour"/)
  assert.throws(
    () => loadConfig({ CACHECAR_CONFIG: `${dir.path}/missing.json` }),
    /CACHECAR_CONFIG must name a readable JSON file/,
  )
  dir.remove()
})

test.run()
