// The app-side client against a real cachecar listening on port 0, and against a dead or hanging one.
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CachecarError, CachecarUnavailableError, createClient } from '../../client/index.js'
import { rejectsWith } from '../helpers/assert.ts'
import { startCachecar } from '../helpers/cachecar.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

const TOKEN = 'client-test-token-0123456789'

test('KV: set with TTL and tags, get, compare-and-set, incr, bulk, delete, purge by tag', async () => {
  const car = await startCachecar({ CACHECAR_TOKEN: TOKEN })
  const client = createClient({ url: car.url, token: TOKEN })
  try {
    const { etag } = (await client.kv.set('app', 'user/1', { name: 'Ada' }, { ttl: 60, tags: ['users'] }))!
    const got = await client.kv.get('app', 'user/1')
    assert.equal(got?.json(), { name: 'Ada' })
    assert.is(got?.contentType, 'application/json')
    assert.is(got?.etag, etag)
    const stale = await rejectsWith(() => client.kv.set('app', 'user/1', 'x', { ifMatch: '"old"' }), CachecarError)
    assert.is(stale.status, 412)
    assert.is(stale.type, 'urn:cachecar:problem:precondition-failed')
    assert.ok(await client.kv.set('app', 'user/1', 'v2', { ifMatch: etag }))
    assert.is(await client.kv.incr('app', 'hits', { by: 2, ttl: 60 }), 2)
    assert.is(await client.kv.incr('app', 'hits'), 3)
    await client.kv.setMany('app', [
      { key: 'a', value: 'A' },
      { key: 'b', value: new Uint8Array([0xff, 0]) },
    ])
    const many = await client.kv.getMany('app', ['a', 'b', 'nope', 'a'])
    // cachecar answers a repeated key once; the client still gives one result per key asked for.
    assert.equal(
      many.map((item) => [item?.value, item?.encoding]),
      [
        ['A', 'utf8'],
        ['/wA=', 'base64'],
        [undefined, undefined],
        ['A', 'utf8'],
      ],
    )
    assert.is(await client.kv.delete('app', 'a'), true)
    assert.is(await client.kv.delete('app', 'a'), false)
    assert.is(await client.kv.get('app', 'a'), undefined)
    assert.is(await client.kv.purgeTags(['users']), 0, 'user/1 was rewritten without the tag')
  } finally {
    await client.close()
    await car.shutdown()
  }
})

test('sessions: create, get, patch with ETag, rotate, destroy', async () => {
  const car = await startCachecar({})
  const client = createClient({ url: car.url })
  try {
    const created = await client.sessions.create({ userId: 7 }, { subject: 'user-7' })
    assert.match(created.id, /^[A-Za-z0-9_-]{43}$/)
    const session = (await client.sessions.get<{ userId: number }>(created.id))!
    assert.is(session.data.userId, 7)
    const patched = await client.sessions.patch(created.id, { role: 'admin' }, { ifMatch: session.etag })
    assert.equal(patched.data, { userId: 7, role: 'admin' })
    const conflict = await rejectsWith(
      () => client.sessions.patch(created.id, { role: 'x' }, { ifMatch: session.etag }),
      CachecarError,
    )
    assert.is(conflict.status, 412)
    const rotated = (await client.sessions.rotate(created.id))!
    assert.is.not(rotated.id, created.id)
    assert.is(await client.sessions.get(created.id), undefined)
    assert.is(await client.sessions.destroy(rotated.id), true)
    assert.is(await client.sessions.get(rotated.id), undefined)
  } finally {
    await client.close()
    await car.shutdown()
  }
})

test('proxy URL and purge', async () => {
  const upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' })
    res.end('hello')
  })
  const car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const client = createClient({ url: car.url })
  try {
    assert.is(client.proxyUrl('api'), `${car.url}/u/api`)
    assert.is(await (await fetch(`${client.proxyUrl('api')}/greeting`)).text(), 'hello')
    assert.is(await client.purge({ upstream: 'api', path: '/greeting' }), 1)
  } finally {
    await client.close()
    await car.shutdown()
    await upstream.close()
  }
})

test('fail-open: a dead sidecar makes KV reads misses and drops writes with a warning; sessions still fail', async () => {
  const dead = createServer()
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve))
  const port = (dead.address() as AddressInfo).port
  await new Promise((resolve) => dead.close(resolve))
  const warnings: string[] = []
  const client = createClient({
    url: `http://127.0.0.1:${port}`,
    failOpen: true,
    logger: { warn: (m) => warnings.push(m) },
  })
  try {
    assert.is(await client.kv.get('app', 'k'), undefined)
    assert.is(await client.kv.set('app', 'k', 'v'), undefined)
    assert.is(await client.kv.incr('app', 'n'), undefined)
    assert.is(warnings.length, 3)
    assert.match(warnings[0]!, 'fail-open')
    await rejectsWith(() => client.sessions.get('x'.repeat(43)), CachecarUnavailableError)
  } finally {
    await client.close()
  }
  const strict = createClient({ url: `http://127.0.0.1:${port}` })
  await rejectsWith(() => strict.kv.get('app', 'k'), CachecarUnavailableError)
  await strict.close()
})

test('fail-open: a hanging sidecar costs at most the timeout', async () => {
  const sockets: import('node:net').Socket[] = []
  const hang = createServer((socket) => {
    sockets.push(socket)
  })
  await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve))
  const client = createClient({
    url: `http://127.0.0.1:${(hang.address() as AddressInfo).port}`,
    failOpen: true,
    timeoutMs: 200,
    logger: {},
  })
  const started = performance.now()
  assert.is(await client.kv.get('app', 'k'), undefined)
  const elapsed = performance.now() - started
  assert.ok(elapsed >= 150 && elapsed < 2000, `${elapsed.toFixed(0)} ms`)
  await client.close().catch(() => {})
  for (const s of sockets) s.destroy()
  await new Promise((resolve) => hang.close(resolve))
})

test.run()
