// Secrets are never printed or served; one cachecar per database path; a typo in a variable stops the start; the
// client refuses malformed names itself instead of reporting the sidecar as unavailable.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CachecarError, createClient } from '../../client/index.js'
import { loadConfig, type ConfigError } from '../../src/config.ts'
import { maskedUrl } from '../../src/config/spec.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { testApp } from '../helpers/app.ts'
import { startCachecar } from '../helpers/cachecar.ts'
import { runMain, startChild } from '../helpers/process.ts'
import { tempDir } from '../helpers/tmp.ts'

function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    return (error as ConfigError).problems.join('\n')
  }
  throw new Error('bad configuration was accepted')
}

test('an upstream URL with credentials is refused without printing them', () => {
  const text = problemsOf({ CACHECAR_UPSTREAMS: 'api=https://svc:hunter2hunter2@api.example.com/v1' })
  assert.match(text, 'must not carry credentials')
  assert.not.match(text, 'hunter2')
})

test('Redis URLs are masked wherever they appear, a ?password= query included: config errors, /readyz, logs', async () => {
  assert.is(
    maskedUrl('redis://cache.internal:6379/0?password=hunter2hunter2&db=1'),
    'redis://cache.internal:6379/0?password=***&db=1',
  )
  assert.not.match(problemsOf({ CACHECAR_SHARED_URL: 'http://cache.internal:6379?password=hunter2hunter2' }), 'hunter2')
  // A shared tier that is not there: cachecar starts on its local store and reports the tier down, masked.
  const car = await startCachecar({
    CACHECAR_SHARED_URL: 'redis://user:hunter2hunter2@127.0.0.1:1/?password=hunter3hunter3',
    CACHECAR_SHARED_TIMEOUT_MS: '50ms',
  })
  try {
    const readyz = await (await fetch(`${car.url}/readyz`)).text()
    assert.match(readyz, 'redis://user:***@127.0.0.1:1/?password=***')
    assert.not.match(readyz + car.logs.join(''), /hunter[23]/)
  } finally {
    await car.shutdown()
  }
})

test('log lines for session routes name the route, never the session ID', async () => {
  const id = 'S'.repeat(43)
  const app = testApp({ CACHECAR_LOG_LEVEL: 'debug' }, () => {
    const store = new SqliteStore({ path: ':memory:', maxBytes: 1 << 26 })
    store.get = () => Promise.reject(new Error('disk on fire'))
    return store
  })
  assert.is((await app.request(`/v1/sessions/${id}`)).status, 500)
  const logs = app.logs.join('')
  assert.match(logs, '/v1/sessions/:id')
  assert.not.match(logs, id)
})

test('an unknown CACHECAR_ variable stops cachecar with exit 2 and a "did you mean" line', async () => {
  const { code, stderr } = await runMain([], { CACHECAR_DB_PATH: ':memory:', CACHECAR_MAXBYTES: '1GiB' })
  assert.is(code, 2)
  assert.match(stderr, 'cachecar: unknown variable CACHECAR_MAXBYTES; did you mean CACHECAR_MAX_BYTES?')
  assert.match(
    problemsOf({ CACHECAR_UPSTREAM_NOPE_CONNECTIONS: '4' }),
    'per-upstream settings need the upstream in CACHECAR_UPSTREAMS',
  )
  assert.not.throws(() =>
    loadConfig({
      CACHECAR_URL: 'http://127.0.0.1:8787',
      CACHECAR_UPSTREAMS: 'api=http://x',
      CACHECAR_UPSTREAM_API_CONNECTIONS: '4',
    }),
  )
})

test("a second cachecar on the same database path refuses to start and leaves the first one's files alone", async () => {
  const dir = tempDir()
  const env = { CACHECAR_DB_PATH: join(dir.path, 'cachecar.db'), CACHECAR_MAX_BYTES: '64MiB' }
  const first = await startChild(env)
  try {
    assert.is((await fetch(`${first.url}/v1/kv/app/k`, { method: 'PUT', body: 'still here' })).status, 201)
    const second = await runMain([], { ...env, CACHECAR_PORT: '0' })
    assert.is(second.code, 1)
    const lines = second.stderr.trim().split('\n')
    assert.is(lines.length, 1, second.stderr)
    assert.match(lines[0]!, `is in use by another running cachecar (it holds the lock ${env.CACHECAR_DB_PATH}.lock)`)
    assert.is(await (await fetch(`${first.url}/v1/kv/app/k`)).text(), 'still here')
  } finally {
    first.process.kill('SIGTERM')
    await first.exited
  }
  // Its lock goes with the process; a lock file left behind, even a corrupt one, never stops a start.
  writeFileSync(`${env.CACHECAR_DB_PATH}.lock`, 'not a database at all, just garbage '.repeat(200))
  const third = await startChild(env)
  third.process.kill('SIGTERM')
  await third.exited
  dir.remove()
})

test('the client refuses a malformed namespace or key with a CachecarError, even fail-open, and sends nothing', async () => {
  const car = await startCachecar({})
  const client = createClient({
    url: car.url,
    failOpen: true,
    logger: {
      warn: () => {
        throw new Error('treated as unavailable')
      },
    },
  })
  try {
    for (const call of [
      () => client.kv.get('../sessions', 'k'),
      () => client.kv.set('a b', 'k', 'v'),
      () => client.kv.get('app', '_bulk'),
      () => client.kv.delete('app', 'x\ny'),
      () => client.kv.getMany('#sessions', ['k']),
      () => client.kv.get('app', ''),
    ]) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.instance(error, CachecarError)
      assert.is((error as CachecarError).status, 400)
      assert.is((error as CachecarError).type, 'urn:cachecar:problem:invalid-request')
    }
    assert.is(await client.sessions.get('../kv/app?prefix='), undefined)
    assert.is(await client.sessions.destroy('../kv/app?prefix='), false)
    assert.ok(await client.kv.set('app', '../x/y?z', 'stays one key'))
    assert.is((await client.kv.get('app', '../x/y?z'))?.text(), 'stays one key')
  } finally {
    await client.close()
    await car.shutdown()
  }
})

test.run()
