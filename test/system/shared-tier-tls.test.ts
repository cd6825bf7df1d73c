// The shared tier the way ElastiCache runs with in-transit encryption and an AUTH token: rediss:// with a certificate
// from a private CA (trusted through NODE_EXTRA_CA_CERTS), a password in the URL that no log line or answer shows.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startChild } from '../helpers/process.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { startRedis } from '../helpers/redis.ts'
import { tempDir } from '../helpers/tmp.ts'

const PASSWORD = 'tls-test-auth-token-0123456789'

/** A throwaway CA and a certificate for localhost signed by it. */
function certificates(dir: string): { ca: string; cert: string; key: string } {
  const path = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' })
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    path('ca.key'),
    '-out',
    path('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=cachecar test CA',
  )
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    path('server.key'),
    '-out',
    path('server.csr'),
    '-subj',
    '/CN=localhost',
  )
  writeFileSync(path('san.ext'), 'subjectAltName=DNS:localhost\n')
  openssl(
    'x509',
    '-req',
    '-in',
    path('server.csr'),
    '-CA',
    path('ca.pem'),
    '-CAkey',
    path('ca.key'),
    '-CAcreateserial',
    '-out',
    path('server.pem'),
    '-days',
    '1',
    '-extfile',
    path('san.ext'),
  )
  return { ca: path('ca.pem'), cert: path('server.pem'), key: path('server.key') }
}

test('rediss:// with AUTH: sessions work across two processes; the password appears in no log line or answer', async () => {
  const dir = tempDir('cachecar-tls-')
  const files = certificates(dir.path)
  const redis = await startRedis({ tls: { certFile: files.cert, keyFile: files.key }, password: PASSWORD })
  const env = (name: string) => ({
    CACHECAR_SHARED_URL: redis.url,
    NODE_EXTRA_CA_CERTS: files.ca,
    CACHECAR_DB_PATH: join(dir.path, `${name}.db`),
  })
  const [a, b] = await Promise.all([startChild(env('a')), startChild(env('b'))])
  try {
    assert.ok(redis.url.startsWith('rediss://'))
    const ready = await eventually(
      async () =>
        ((await (await fetch(`${a.url}/readyz`)).json()) as { shared?: { state: string } }).shared?.state === 'up',
      5000,
    )
    assert.ok(ready, `the TLS connection with AUTH came up:\n${a.output()}`)
    const readyz = await (await fetch(`${a.url}/readyz`)).text()
    const created = await fetch(`${a.url}/v1/sessions`, {
      method: 'POST',
      body: JSON.stringify({ data: { over: 'tls' } }),
    })
    assert.is(created.status, 201)
    const { id } = (await created.json()) as { id: string }
    const read = await fetch(`${b.url}/v1/sessions/${id}`)
    assert.is(read.status, 200)
    assert.equal(((await read.json()) as { data: unknown }).data, { over: 'tls' })
    for (const text of [a.output(), b.output(), readyz])
      assert.not.ok(text.includes(PASSWORD), 'the AUTH password is never shown')
    assert.match(
      a.output(),
      /"shared":"rediss:\/\/:\*\*\*@localhost:/,
      'the start line names the tier with the password masked',
    )
  } finally {
    for (const child of [a, b]) child.process.kill('SIGTERM')
    await Promise.all([a.exited, b.exited])
    await redis.stop()
    dir.remove()
  }
})

test('a wrong password is a down shared tier, not a crash: cachecar starts and serves, sessions answer 503', async () => {
  const redis = await startRedis({ password: PASSWORD })
  const dir = tempDir('cachecar-auth-')
  const car = await startChild({
    CACHECAR_SHARED_URL: redis.url.replace(encodeURIComponent(PASSWORD), 'wrong-password'),
    CACHECAR_DB_PATH: join(dir.path, 'c.db'),
  })
  try {
    assert.is((await fetch(`${car.url}/v1/kv/app/k`, { method: 'PUT', body: 'v' })).status, 201)
    assert.is(await (await fetch(`${car.url}/v1/kv/app/k`)).text(), 'v')
    const session = await fetch(`${car.url}/v1/sessions`, { method: 'POST', body: JSON.stringify({ data: {} }) })
    assert.is(session.status, 503)
    assert.is(((await (await fetch(`${car.url}/readyz`)).json()) as { shared: { state: string } }).shared.state, 'down')
    assert.not.ok(car.output().includes('wrong-password'))
  } finally {
    car.process.kill('SIGTERM')
    await car.exited
    await redis.stop()
    dir.remove()
  }
})

test.run()
