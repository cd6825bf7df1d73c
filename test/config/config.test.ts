// Configuration: defaults, units, and bad values named one per line with exit code 2.
import { once } from 'node:events'
import { type AddressInfo, createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { SETTINGS } from '../../src/config/spec.ts'
import { parseDuration, parseSize } from '../../src/config/units.ts'
import { runMain } from '../helpers/process.ts'

test('defaults: loopback, port 8787, a database in the OS temp folder, 1 GiB budget, 10 s grace', () => {
  const config = loadConfig({})
  assert.is(config.host, '127.0.0.1')
  assert.is(config.port, 8787)
  assert.ok(config.dbPath.startsWith(tmpdir()))
  assert.is(config.maxBytes, 1024 ** 3)
  assert.is(config.maxValueBytes, 8 * 1024 ** 2)
  assert.is(config.maxHeaderBytes, 16 * 1024)
  assert.is(config.shutdownGraceMs, 10_000)
  assert.is(config.token, undefined)
  assert.ok(Object.isFrozen(config))
})

test("sizes and durations accept units; bare durations use the variable's unit", () => {
  assert.is(parseSize('64MiB'), 64 * 1024 ** 2)
  assert.is(parseSize('1GB'), 1e9)
  assert.is(parseSize('1.5KiB'), 1536)
  assert.is(parseSize('1024'), 1024)
  assert.is(parseSize('1x'), undefined)
  assert.is(parseSize('-1'), undefined)
  assert.is(parseDuration('30s', 'ms'), 30_000)
  assert.is(parseDuration('250ms', 's'), 250)
  assert.is(parseDuration('5m', 's'), 300_000)
  assert.is(parseDuration('60', 's'), 60_000)
  assert.is(parseDuration('500', 'ms'), 500)
  assert.is(parseDuration('soon', 'ms'), undefined)
  const config = loadConfig({
    CACHECAR_MAX_BYTES: '64MiB',
    CACHECAR_DEFAULT_TTL: '90',
    CACHECAR_SWEEP_INTERVAL_MS: '2s',
    CACHECAR_MAX_VALUE_BYTES: '1MiB',
  })
  assert.is(config.maxBytes, 64 * 1024 ** 2)
  assert.is(config.defaultTtlMs, 90_000)
  assert.is(config.sweepIntervalMs, 2000)
})

test('every bad variable is named with its value and the accepted form, all at once', () => {
  try {
    loadConfig({
      CACHECAR_PORT: '99999',
      CACHECAR_MAX_BYTES: '1x',
      CACHECAR_LOG_LEVEL: 'loud',
      CACHECAR_TOKEN: 'short',
      CACHECAR_DEFAULT_TTL: 'soon',
    })
    assert.unreachable('bad configuration was accepted')
  } catch (error) {
    assert.instance(error, ConfigError)
    const problems = (error as ConfigError).problems
    assert.is(problems.length, 5)
    assert.ok(problems.some((p) => p.startsWith('CACHECAR_PORT must be an integer between 0 and 65535, got "99999"')))
    assert.ok(problems.some((p) => p.startsWith('CACHECAR_MAX_BYTES must be a size') && p.endsWith('got "1x"')))
    assert.ok(problems.some((p) => p.startsWith('CACHECAR_LOG_LEVEL must be one of fatal, error')))
    assert.ok(problems.some((p) => p.startsWith('CACHECAR_TOKEN must be at least 16')))
    assert.ok(problems.some((p) => p.startsWith('CACHECAR_DEFAULT_TTL must be a duration')))
    assert.not.match(problems.join('\n'), /\n.*\n.*\n.*\n.*\n.*\n/, 'one line per problem')
  }
})

test("secrets in rejected values are never echoed: the token is not shown, a URL's password is masked", () => {
  const problems = (() => {
    try {
      loadConfig({
        CACHECAR_TOKEN: 'short secret',
        CACHECAR_SHARED_URL: 'http://svc:hunter2hunter2@cache.internal:6379',
      })
    } catch (error) {
      return (error as ConfigError).problems
    }
    throw new Error('bad configuration was accepted')
  })()
  const text = problems.join('\n')
  assert.not.match(text, /short secret|hunter2/)
  assert.match(text, /CACHECAR_TOKEN must be at least 16 .* got a value of 12 characters \(not shown\)/)
  assert.match(
    text,
    /CACHECAR_SHARED_URL must be a redis:\/\/ or rediss:\/\/ URL .* got "http:\/\/svc:\*\*\*@cache\.internal:6379/,
  )
})

test('the shared tier: off by default; redis:// and rediss:// URLs with a prefix and timeout', () => {
  const off = loadConfig({})
  assert.is(off.sharedUrl, undefined)
  assert.is(off.sharedPrefix, 'cachecar:')
  const on = loadConfig({
    CACHECAR_SHARED_URL: 'rediss://app:pw@my-cache.abc.use1.cache.amazonaws.com:6379',
    CACHECAR_SHARED_PREFIX: 'orders:',
    CACHECAR_SHARED_TIMEOUT_MS: '50',
  })
  assert.is(on.sharedUrl, 'rediss://app:pw@my-cache.abc.use1.cache.amazonaws.com:6379')
  assert.is(on.sharedPrefix, 'orders:')
  assert.is(on.sharedTimeoutMs, 50)
  assert.throws(() => loadConfig({ CACHECAR_SHARED_URL: 'redis://' }), /SHARED_URL must be a redis/)
  assert.throws(() => loadConfig({ CACHECAR_SHARED_PREFIX: 'has space' }), /SHARED_PREFIX must be 1-64 printable/)
})

test('settings that contradict each other are refused', () => {
  assert.throws(
    () => loadConfig({ CACHECAR_DEFAULT_TTL: '2h', CACHECAR_MAX_TTL: '1h' }),
    /DEFAULT_TTL must not exceed CACHECAR_MAX_TTL/,
  )
  assert.throws(
    () => loadConfig({ CACHECAR_MAX_BYTES: '16MiB', CACHECAR_MAX_VALUE_BYTES: '8MiB' }),
    /MAX_VALUE_BYTES must be at most 1\/8/,
  )
})

test('a host beyond loopback without a token is refused unless explicitly allowed', () => {
  for (const host of ['0.0.0.0', '10.0.1.7', '::', 'cachecar.internal']) {
    assert.throws(() => loadConfig({ CACHECAR_HOST: host }), /not a loopback address and CACHECAR_TOKEN is unset/, host)
    assert.is(loadConfig({ CACHECAR_HOST: host, CACHECAR_TOKEN: 'a-token-of-16-chars!' }).host, host)
    assert.is(loadConfig({ CACHECAR_HOST: host, CACHECAR_ALLOW_OPEN_BIND: 'true' }).host, host)
  }
  for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
    assert.is(loadConfig({ CACHECAR_HOST: host }).host, host, `${host} is loopback`)
  assert.throws(() => loadConfig({ CACHECAR_ALLOW_OPEN_BIND: 'yes' }), /CACHECAR_ALLOW_OPEN_BIND must be true or false/)
})

test('a busy port exits 1 with one line naming the address, and no stack', async () => {
  const busy = createServer().listen(0, '127.0.0.1')
  await once(busy, 'listening')
  const port = (busy.address() as AddressInfo).port
  try {
    const { code, stderr } = await runMain([], { CACHECAR_PORT: String(port), CACHECAR_DB_PATH: ':memory:' })
    assert.is(code, 1)
    assert.equal(stderr.trim().split('\n'), [
      `cachecar: cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE)`,
    ])
  } finally {
    busy.close()
  }
})

test('bad configuration exits 2 before listening, one stderr line per problem', async () => {
  const { code, stdout, stderr } = await runMain([], { CACHECAR_PORT: 'eighty', CACHECAR_MAX_BYTES: 'lots' })
  assert.is(code, 2)
  assert.is(stdout, '')
  const lines = stderr.trim().split('\n')
  assert.is(lines.length, 2)
  assert.match(lines[0]!, 'CACHECAR_PORT must be an integer')
  assert.match(lines[1]!, 'CACHECAR_MAX_BYTES must be a size')
})

test('--help prints every variable and exits 0; an unknown argument exits 2', async () => {
  const help = await runMain(['--help'], {})
  assert.is(help.code, 0)
  for (const setting of SETTINGS) assert.match(help.stdout, setting.name)
  const unknown = await runMain(['--port=1'], {})
  assert.is(unknown.code, 2)
  assert.match(unknown.stderr, 'unknown argument')
})

test('the README configuration table lists every variable', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8')
  for (const setting of SETTINGS) assert.match(readme, `| \`${setting.name}\``, setting.name)
})

test.run()
