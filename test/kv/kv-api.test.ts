// The key/value API over HTTP: every route and every kind of bad input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { problemOf, testApp } from '../helpers/app.ts'

const put = (body: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}) => ({
  method: 'PUT',
  body,
  headers,
})

test('PUT stores bytes with their content type; GET returns them with ETag, max-age and Age', async () => {
  const { request, clock } = testApp()
  const created = await request('/v1/kv/app/greeting?ttl=60', put('hello', { 'content-type': 'text/plain' }))
  assert.is(created.status, 201)
  const etag = created.headers.get('etag')
  assert.match(etag ?? '', /^"[^"]+"$/)
  clock.advance(10_000)
  const got = await request('/v1/kv/app/greeting')
  assert.is(got.status, 200)
  assert.is(await got.text(), 'hello')
  assert.is(got.headers.get('content-type'), 'text/plain')
  assert.is(got.headers.get('etag'), etag)
  assert.is(got.headers.get('cache-control'), 'max-age=50')
  assert.is(got.headers.get('age'), '10')
})

test('a second PUT replaces the value with 204 and a new ETag', async () => {
  const { request } = testApp()
  const first = await request('/v1/kv/app/k', put('one'))
  const second = await request('/v1/kv/app/k', put('two'))
  assert.is(second.status, 204)
  assert.is.not(second.headers.get('etag'), first.headers.get('etag'))
  assert.is(await (await request('/v1/kv/app/k')).text(), 'two')
})

test('binary values round-trip byte for byte; a missing content type is application/octet-stream', async () => {
  const { request } = testApp()
  const bytes = new Uint8Array(256).map((_, i) => i)
  await request('/v1/kv/app/bin', put(bytes))
  const got = await request('/v1/kv/app/bin')
  assert.is(got.headers.get('content-type'), 'application/octet-stream')
  assert.equal([...new Uint8Array(await got.arrayBuffer())], [...bytes])
})

test('HEAD answers the headers without the body', async () => {
  const { request } = testApp()
  await request('/v1/kv/app/k', put('12345'))
  const head = await request('/v1/kv/app/k', { method: 'HEAD' })
  assert.is(head.status, 200)
  assert.ok(head.headers.get('etag'))
  assert.is(await head.text(), '')
})

test('GET with a matching If-None-Match is 304, weak or strong; a different tag gets the value', async () => {
  const { request } = testApp()
  const etag = (await request('/v1/kv/app/k', put('v'))).headers.get('etag')!
  assert.is((await request('/v1/kv/app/k', { headers: { 'if-none-match': etag } })).status, 304)
  assert.is((await request('/v1/kv/app/k', { headers: { 'if-none-match': `"x", W/${etag}` } })).status, 304)
  assert.is((await request('/v1/kv/app/k', { headers: { 'if-none-match': '"other"' } })).status, 200)
})

test('a missing or expired key is a 404 problem', async () => {
  const { request, clock } = testApp()
  const missing = await request('/v1/kv/app/nothing')
  assert.is(missing.status, 404)
  assert.is((await problemOf(missing)).type, 'urn:cachecar:problem:not-found')
  await request('/v1/kv/app/short?ttl=5', put('v'))
  clock.advance(5000)
  assert.is((await request('/v1/kv/app/short')).status, 404)
})

test('If-Match makes PUT a compare-and-set; If-None-Match: * makes it create-only', async () => {
  const { request } = testApp()
  const etag = (await request('/v1/kv/app/k', put('one'))).headers.get('etag')!
  const stale = await request('/v1/kv/app/k', put('two', { 'if-match': '"stale"' }))
  assert.is(stale.status, 412)
  assert.is((await problemOf(stale)).type, 'urn:cachecar:problem:precondition-failed')
  assert.is((await request('/v1/kv/app/k', put('two', { 'if-match': etag }))).status, 204)
  assert.is((await request('/v1/kv/app/k', put('three', { 'if-none-match': '*' }))).status, 412)
  assert.is((await request('/v1/kv/app/new', put('x', { 'if-none-match': '*' }))).status, 201)
  assert.is(await (await request('/v1/kv/app/k')).text(), 'two')
  const badCondition = await request('/v1/kv/app/k', put('x', { 'if-none-match': '"abc"' }))
  assert.is(badCondition.status, 400)
  assert.is((await problemOf(badCondition)).field, 'if-none-match')
})

test('DELETE removes a key (honouring If-Match); deleting again is 404', async () => {
  const { request } = testApp()
  const etag = (await request('/v1/kv/app/k', put('v'))).headers.get('etag')!
  assert.is((await request('/v1/kv/app/k', { method: 'DELETE', headers: { 'if-match': '"no"' } })).status, 412)
  assert.is((await request('/v1/kv/app/k', { method: 'DELETE', headers: { 'if-match': etag } })).status, 204)
  assert.is((await request('/v1/kv/app/k')).status, 404)
  assert.is((await request('/v1/kv/app/k', { method: 'DELETE' })).status, 404)
})

test('bad TTLs are 400 problems naming ttl', async () => {
  const { request } = testApp({ CACHECAR_MAX_TTL: '1h' })
  for (const ttl of ['abc', '0', '-1', '1.5', '3601', '1e3', '']) {
    const response = await request(`/v1/kv/app/k?ttl=${ttl}`, put('v'))
    assert.is(response.status, 400, `ttl=${ttl}`)
    const problem = await problemOf(response)
    assert.is(problem.field, 'ttl')
    assert.match(problem.detail, 'between 1 and 3600')
  }
  assert.is((await request('/v1/kv/app/k')).status, 404, 'nothing was written')
  assert.is((await request('/v1/kv/app/k?ttl=3600', put('v'))).status, 201)
})

test('bad namespaces and keys are 400 problems naming the field', async () => {
  const { request } = testApp({ CACHECAR_MAX_KEY_BYTES: '16' })
  const cases: [string, string][] = [
    ['/v1/kv/_internal/k', 'namespace'],
    ['/v1/kv/a%20b/k', 'namespace'],
    [`/v1/kv/${'n'.repeat(65)}/k`, 'namespace'],
    ['/v1/kv/app/_reserved', 'key'],
    [`/v1/kv/app/${'k'.repeat(17)}`, 'key'],
    ['/v1/kv/app/a%01b', 'key'],
    ['/v1/kv/app/%E0%A4%A', 'key'],
  ]
  for (const [path, field] of cases) {
    const response = await request(path, put('v'))
    assert.is(response.status, 400, path)
    assert.is((await problemOf(response)).field, field, path)
  }
})

test('keys may hold any UTF-8, slashes percent-encoded; each encoding names one key', async () => {
  const { request } = testApp()
  await request('/v1/kv/app/a%2Fb', put('slash'))
  await request('/v1/kv/app/caf%C3%A9', put('accent'))
  await request('/v1/kv/app/%25E0', put('percent'))
  assert.is(await (await request('/v1/kv/app/a%2Fb')).text(), 'slash')
  assert.is(await (await request('/v1/kv/app/café')).text(), 'accent')
  assert.is(await (await request('/v1/kv/app/%25E0')).text(), 'percent')
  const list = (await (await request('/v1/kv/app')).json()) as { items: { key: string }[] }
  assert.equal(list.items.map((i) => i.key).sort(), ['%E0', 'a/b', 'café'])
})

test('a value over MAX_VALUE_BYTES is 413 whether declared or streamed, and nothing is stored', async () => {
  const { request } = testApp({ CACHECAR_MAX_VALUE_BYTES: '1KiB' })
  const declared = await request('/v1/kv/app/big', put(new Uint8Array(1025)))
  assert.is(declared.status, 413)
  assert.is((await problemOf(declared)).type, 'urn:cachecar:problem:payload-too-large')
  let pulled = 0
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++
      controller.enqueue(new Uint8Array(256))
    },
  })
  const streamed = await request('/v1/kv/app/big', { method: 'PUT', body: endless, duplex: 'half' } as RequestInit)
  assert.is(streamed.status, 413)
  assert.ok(pulled < 10, `read ${pulled} chunks of an endless body`)
  assert.is((await request('/v1/kv/app/big')).status, 404)
  assert.is((await request('/v1/kv/app/big', put(new Uint8Array(1024)))).status, 201, 'exactly the limit fits')
})

test('Cachecar-Tags are validated, and POST /v1/kv/_purge removes every tagged entry', async () => {
  const { request } = testApp()
  await request('/v1/kv/app/a', put('v', { 'cachecar-tags': 'user:1, team:9' }))
  await request('/v1/kv/other/b', put('v', { 'cachecar-tags': 'user:1' }))
  await request('/v1/kv/app/c', put('v', { 'cachecar-tags': 'user:2' }))
  const bad = await request('/v1/kv/app/d', put('v', { 'cachecar-tags': 'ok, not ok' }))
  assert.is(bad.status, 400)
  assert.is((await problemOf(bad)).field, 'Cachecar-Tags')
  const purge = await request('/v1/kv/_purge', { method: 'POST', body: JSON.stringify({ tags: ['user:1'] }) })
  assert.equal(await purge.json(), { deleted: 2 })
  assert.is((await request('/v1/kv/app/a')).status, 404)
  assert.is((await request('/v1/kv/other/b')).status, 404)
  assert.is((await request('/v1/kv/app/c')).status, 200)
  for (const body of ['{"tags": []}', '{"tags": "user:2"}', '[]', '{"tags": [1]}']) {
    assert.is((await request('/v1/kv/_purge', { method: 'POST', body })).status, 400, body)
  }
})

test('DELETE /v1/kv/{namespace}?prefix= purges by prefix; without prefix it is refused', async () => {
  const { request } = testApp()
  for (const key of ['user:1', 'user:2', 'admin:1']) await request(`/v1/kv/app/${key}`, put('v'))
  const refused = await request('/v1/kv/app', { method: 'DELETE' })
  assert.is(refused.status, 400)
  assert.is((await problemOf(refused)).field, 'prefix')
  assert.equal(await (await request('/v1/kv/app?prefix=user%3A', { method: 'DELETE' })).json(), { deleted: 2 })
  assert.is((await request('/v1/kv/app/admin:1')).status, 200)
  assert.equal(await (await request('/v1/kv/app?prefix=', { method: 'DELETE' })).json(), { deleted: 1 })
})

test('POST .../incr counts atomically, keeps the first TTL and refuses non-counters', async () => {
  const { request, clock } = testApp()
  const first = await request('/v1/kv/limits/user1/incr?ttl=60', { method: 'POST' })
  assert.is(first.status, 200)
  const body = (await first.json()) as { value: number; expiresAt: string }
  assert.is(body.value, 1)
  assert.is(body.expiresAt, new Date(clock.now() + 60_000).toISOString())
  clock.advance(30_000)
  const results = await Promise.all(
    Array.from({ length: 50 }, () => request('/v1/kv/limits/user1/incr?by=2', { method: 'POST' })),
  )
  const values = await Promise.all(results.map(async (r) => ((await r.json()) as { value: number }).value))
  assert.is(Math.max(...values), 101)
  assert.is(new Set(values).size, 50, 'every increment saw a distinct value')
  assert.is(await (await request('/v1/kv/limits/user1')).text(), '101')
  assert.is((await request('/v1/kv/limits/user1')).headers.get('cache-control'), 'max-age=30')
  await request('/v1/kv/limits/text', put('hello'))
  const notCounter = await request('/v1/kv/limits/text/incr', { method: 'POST' })
  assert.is(notCounter.status, 409)
  assert.is((await problemOf(notCounter)).type, 'urn:cachecar:problem:not-a-counter')
  for (const by of ['x', '1.5', '99999999999999999']) {
    const bad = await request(`/v1/kv/limits/user1/incr?by=${by}`, { method: 'POST' })
    assert.is(bad.status, 400, by)
    assert.is((await problemOf(bad)).field, 'by')
  }
})

test('GET /v1/kv/{namespace} lists live keys with size and expiry, paginated by cursor', async () => {
  const { request, clock } = testApp()
  for (const key of ['a', 'b', 'c', 'd', 'e']) await request(`/v1/kv/app/${key}?ttl=60`, put(key.repeat(3)))
  await request('/v1/kv/app/gone?ttl=1', put('v'))
  await request('/v1/kv/app/x:1', put('v'))
  clock.advance(1000)
  const page1 = (await (await request('/v1/kv/app?limit=2')).json()) as {
    items: { key: string; size: number; expiresAt: string }[]
    cursor: string
  }
  assert.equal(
    page1.items.map((i) => i.key),
    ['a', 'b'],
  )
  assert.is(page1.items[0]!.size, 3)
  assert.is(page1.items[0]!.expiresAt, new Date(clock.now() + 59_000).toISOString())
  const page2 = (await (await request(`/v1/kv/app?limit=2&cursor=${page1.cursor}`)).json()) as {
    items: { key: string }[]
    cursor: string
  }
  assert.equal(
    page2.items.map((i) => i.key),
    ['c', 'd'],
  )
  const page3 = (await (await request(`/v1/kv/app?limit=2&cursor=${page2.cursor}`)).json()) as {
    items: { key: string }[]
    cursor: string | null
  }
  assert.equal(
    page3.items.map((i) => i.key),
    ['e', 'x:1'],
  )
  assert.is(page3.cursor, null)
  const prefixed = (await (await request('/v1/kv/app?prefix=x%3A')).json()) as { items: { key: string }[] }
  assert.equal(
    prefixed.items.map((i) => i.key),
    ['x:1'],
  )
  for (const query of ['limit=0', 'limit=1001', 'limit=x', 'cursor=%%%']) {
    assert.is((await request(`/v1/kv/app?${query}`)).status, 400, query)
  }
})

test('bulk set writes every item in one transaction; bulk get returns text or base64 values', async () => {
  const { request } = testApp()
  const set = await request('/v1/kv/app/_bulk', {
    method: 'POST',
    body: JSON.stringify({
      set: [
        { key: 'a', value: '{"n":1}', contentType: 'application/json', ttl: 60, tags: ['t'] },
        { key: 'b', value: Buffer.from([0xff, 0x00]).toString('base64'), encoding: 'base64' },
      ],
    }),
  })
  assert.is(set.status, 200)
  const written = (await set.json()) as { items: { key: string; etag: string }[] }
  assert.equal(
    written.items.map((i) => i.key),
    ['a', 'b'],
  )
  const got = await request('/v1/kv/app/_bulk', {
    method: 'POST',
    body: JSON.stringify({ get: ['a', 'b', 'missing'] }),
  })
  const items = ((await got.json()) as { items: Record<string, unknown>[] }).items
  assert.equal(
    items.map((i) => [i.key, i.found, i.value, i.encoding]),
    [
      ['a', true, '{"n":1}', 'utf8'],
      ['b', true, '/wA=', 'base64'],
      ['missing', false, undefined, undefined],
    ],
  )
  assert.is(items[0]!.etag, written.items[0]!.etag)
  // An item without contentType gets the default a single PUT without Content-Type gets.
  assert.is((await request('/v1/kv/app/b')).headers.get('content-type'), 'application/octet-stream')
  assert.is(items[1]!.contentType, 'application/octet-stream')
})

test('a bulk set with one bad item writes nothing and names the item', async () => {
  const { request } = testApp()
  const response = await request('/v1/kv/app/_bulk', {
    method: 'POST',
    body: JSON.stringify({
      set: [
        { key: 'good', value: 'v' },
        { key: 'bad', value: 'v', ttl: -5 },
      ],
    }),
  })
  assert.is(response.status, 400)
  assert.is((await problemOf(response)).field, 'set[1].ttl')
  assert.is((await request('/v1/kv/app/good')).status, 404)
})

test('bad bulk bodies are 400 problems', async () => {
  const { request } = testApp({ CACHECAR_MAX_BULK_ITEMS: '2' })
  const bodies: [string, string][] = [
    ['not json', 'invalid-json'],
    ['[]', 'invalid-request'],
    ['{"get": ["a"], "set": []}', 'invalid-request'],
    ['{"get": ["a", "b", "c"]}', 'invalid-request'],
    ['{"get": [1]}', 'invalid-request'],
    ['{"set": [{"key": "k", "value": "@@@", "encoding": "base64"}]}', 'invalid-request'],
    ['{"set": [{"key": "k", "value": "v", "encoding": "hex"}]}', 'invalid-request'],
    ['{"set": [{"key": "k", "value": 5}]}', 'invalid-request'],
    ['{"set": [{"key": "_k", "value": "v"}]}', 'invalid-request'],
  ]
  for (const [body, kind] of bodies) {
    const response = await request('/v1/kv/app/_bulk', { method: 'POST', body })
    assert.is(response.status, 400, body)
    assert.is((await problemOf(response)).type, `urn:cachecar:problem:${kind}`, body)
  }
})

test('a bulk value over MAX_VALUE_BYTES is 413 naming the item', async () => {
  const { request } = testApp({ CACHECAR_MAX_VALUE_BYTES: '1KiB' })
  const response = await request('/v1/kv/app/_bulk', {
    method: 'POST',
    body: JSON.stringify({ set: [{ key: 'k', value: 'x'.repeat(1025) }] }),
  })
  assert.is(response.status, 413)
  assert.is((await problemOf(response)).field, 'set[0].value')
})

test('an unknown route is a 404 problem', async () => {
  const { request } = testApp()
  const response = await request('/v2/nothing')
  assert.is(response.status, 404)
  assert.is((await problemOf(response)).type, 'urn:cachecar:problem:not-found')
})

test.run()
