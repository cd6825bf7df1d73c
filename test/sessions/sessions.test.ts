// Session storage: every route, sliding and absolute expiry on an injected clock, touch amortisation,
// compare-and-set, rotation, subject logout, bad input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { newSessionId } from '../../src/sessions/ids.ts'
import { mergePatch } from '../../src/sessions/merge-patch.ts'
import { HotTier } from '../../src/store/hot-tier.ts'
import { SESSIONS } from '../../src/store/keyspace.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { problemOf, testApp, type TestApp } from '../helpers/app.ts'

const MIN = 60_000
const json = (body: unknown, headers: Record<string, string> = {}) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
})
type SessionBody = {
  id: string
  data: Record<string, unknown>
  subject: string | null
  expiresAt: string
  absoluteExpiresAt: string
}

async function create(
  app: TestApp,
  data: unknown = { user: 'u1' },
  subject?: string,
): Promise<SessionBody & { etag: string }> {
  const response = await app.request('/v1/sessions', { method: 'POST', ...json({ data, ...(subject && { subject }) }) })
  assert.is(response.status, 201)
  return { ...((await response.json()) as SessionBody), etag: response.headers.get('etag')! }
}

function sessionApp(env: Record<string, string> = {}) {
  return testApp({
    CACHECAR_SESSION_IDLE_TTL: '30m',
    CACHECAR_SESSION_ABSOLUTE_TTL: '2h',
    CACHECAR_SESSION_TOUCH_FRACTION: '0.1',
    ...env,
  })
}

test('create returns a fresh 43-character ID with idle and absolute expiry; GET returns the session', async () => {
  const app = sessionApp()
  const created = await create(app, { user: 'u1', roles: ['admin'] }, 'user-1')
  assert.match(created.id, /^[A-Za-z0-9_-]{43}$/)
  assert.is(created.expiresAt, new Date(app.clock.now() + 30 * MIN).toISOString())
  assert.is(created.absoluteExpiresAt, new Date(app.clock.now() + 120 * MIN).toISOString())
  const got = await app.request(`/v1/sessions/${created.id}`)
  assert.is(got.status, 200)
  assert.is(got.headers.get('cache-control'), 'no-store')
  assert.is(got.headers.get('etag'), created.etag)
  assert.equal(await got.json(), {
    id: created.id,
    data: { user: 'u1', roles: ['admin'] },
    subject: 'user-1',
    expiresAt: created.expiresAt,
    absoluteExpiresAt: created.absoluteExpiresAt,
  })
})

test('a client can never choose the ID', async () => {
  const app = sessionApp()
  const response = await app.request('/v1/sessions', { method: 'POST', ...json({ id: 'a'.repeat(43), data: {} }) })
  assert.is(response.status, 201)
  assert.is.not(((await response.json()) as SessionBody).id, 'a'.repeat(43))
  assert.is((await app.request(`/v1/sessions/${'a'.repeat(43)}`, { method: 'PUT', ...json({ data: {} }) })).status, 404)
})

test('reads slide the idle expiry, amortised: no rewrite until a tenth of the idle TTL has passed', async () => {
  const app = sessionApp()
  const { id } = await create(app)
  app.clock.advance(2 * MIN) // under 3 min (10 % of 30): no rewrite
  const early = (await (await app.request(`/v1/sessions/${id}`)).json()) as SessionBody
  assert.is(Date.parse(early.expiresAt), app.clock.now() - 2 * MIN + 30 * MIN)
  app.clock.advance(2 * MIN) // 4 min since the write: rewrite
  const slid = (await (await app.request(`/v1/sessions/${id}`)).json()) as SessionBody
  assert.is(Date.parse(slid.expiresAt), app.clock.now() + 30 * MIN)
})

test('a session held in memory (the hot tier, as deployed) still slides once a read is due', async () => {
  const app = testApp(
    { CACHECAR_SESSION_IDLE_TTL: '30m', CACHECAR_SESSION_ABSOLUTE_TTL: '2h', CACHECAR_SESSION_TOUCH_FRACTION: '0.1' },
    (clock, config) =>
      new HotTier(new SqliteStore({ path: ':memory:', maxBytes: config.maxBytes, now: clock.now }), {
        maxBytes: 1024 ** 2,
        maxEntryBytes: 64 * 1024,
        secretKeys: new Set([SESSIONS]),
        now: clock.now,
      }),
  )
  const { id, expiresAt } = await create(app)
  for (let read = 0; read < 2; read++) {
    app.clock.advance(MIN)
    const held = (await (await app.request(`/v1/sessions/${id}`)).json()) as SessionBody
    assert.is(held.expiresAt, expiresAt, 'no rewrite before a tenth of the idle TTL (3 min)')
  }
  app.clock.advance(2 * MIN) // 4 min since the write: this read rewrites the expiry
  const slid = (await (await app.request(`/v1/sessions/${id}`)).json()) as SessionBody
  assert.is(Date.parse(slid.expiresAt), app.clock.now() + 30 * MIN)
  const after = (await (await app.request(`/v1/sessions/${id}?touch=false`)).json()) as SessionBody
  assert.is(after.expiresAt, slid.expiresAt, 'the slid expiry is what the store holds')
})

test('touch=false reads without extending; an idle session ends after its idle TTL', async () => {
  const app = sessionApp()
  const { id, expiresAt } = await create(app)
  app.clock.advance(20 * MIN)
  const peek = (await (await app.request(`/v1/sessions/${id}?touch=false`)).json()) as SessionBody
  assert.is(peek.expiresAt, expiresAt)
  app.clock.advance(10 * MIN)
  assert.is((await app.request(`/v1/sessions/${id}`)).status, 404, 'expired: never revived by a read')
  assert.is((await app.request(`/v1/sessions/${id}`, { method: 'PATCH', ...json({ a: 1 }) })).status, 404)
})

test('activity never extends a session past its absolute lifetime', async () => {
  const app = sessionApp()
  const { id, absoluteExpiresAt } = await create(app)
  for (let elapsed = 0; elapsed < 110 * MIN; elapsed += 10 * MIN) {
    app.clock.advance(10 * MIN)
    assert.is((await app.request(`/v1/sessions/${id}`)).status, 200)
  }
  const last = (await (await app.request(`/v1/sessions/${id}`)).json()) as SessionBody
  assert.is(last.expiresAt, absoluteExpiresAt, 'the idle expiry is capped at the absolute one')
  app.clock.advance(Date.parse(absoluteExpiresAt) - app.clock.now())
  assert.is((await app.request(`/v1/sessions/${id}`)).status, 404)
})

test('PUT replaces data; PATCH merges (RFC 7396); both honour If-Match with 412', async () => {
  const app = sessionApp()
  const { id, etag } = await create(app, { a: 1, nested: { x: 1, y: 2 } })
  const patched = await app.request(`/v1/sessions/${id}`, {
    method: 'PATCH',
    ...json({ nested: { y: null, z: 3 }, b: 2 }, { 'if-match': etag }),
  })
  assert.is(patched.status, 200)
  assert.equal(((await patched.json()) as SessionBody).data, { a: 1, nested: { x: 1, z: 3 }, b: 2 })
  const stale = await app.request(`/v1/sessions/${id}`, {
    method: 'PUT',
    ...json({ data: { c: 3 } }, { 'if-match': etag }),
  })
  assert.is(stale.status, 412)
  const newEtag = patched.headers.get('etag')!
  const put = await app.request(`/v1/sessions/${id}`, {
    method: 'PUT',
    ...json({ data: { c: 3 } }, { 'if-match': newEtag }),
  })
  assert.equal(((await put.json()) as SessionBody).data, { c: 3 })
  assert.is(
    (await app.request(`/v1/sessions/${id}`, { method: 'PATCH', ...json({ d: 4 }, { 'if-match': newEtag }) })).status,
    412,
  )
})

test('concurrent PATCHes without If-Match all land; with the same If-Match exactly one wins', async () => {
  const app = sessionApp()
  const { id, etag } = await create(app, {})
  const free = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      app.request(`/v1/sessions/${id}`, { method: 'PATCH', ...json({ [`k${i}`]: i }) }),
    ),
  )
  assert.ok(free.every((r) => r.status === 200))
  const data = ((await (await app.request(`/v1/sessions/${id}`)).json()) as SessionBody).data
  assert.is(Object.keys(data).length, 20, 'no update was lost')
  const current = (await app.request(`/v1/sessions/${id}?touch=false`)).headers.get('etag')!
  assert.is.not(current, etag)
  const guarded = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      app.request(`/v1/sessions/${id}`, { method: 'PATCH', ...json({ winner: i }, { 'if-match': current }) }),
    ),
  )
  assert.equal(guarded.map((r) => r.status).sort(), [200, 412, 412, 412, 412, 412, 412, 412, 412, 412])
})

test('rotate gives a new ID with the same data; the old ID is gone', async () => {
  const app = sessionApp()
  const { id } = await create(app, { user: 'u1' }, 'subj')
  const rotated = await app.request(`/v1/sessions/${id}/rotate`, { method: 'POST' })
  assert.is(rotated.status, 200)
  const body = (await rotated.json()) as SessionBody
  assert.is.not(body.id, id)
  assert.equal([body.data, body.subject], [{ user: 'u1' }, 'subj'])
  assert.is((await app.request(`/v1/sessions/${id}`)).status, 404)
  assert.is((await app.request(`/v1/sessions/${body.id}`)).status, 200)
  assert.is((await app.request(`/v1/sessions/${id}/rotate`, { method: 'POST' })).status, 404)
})

test('rotation is atomic: concurrent rotations of one session leave exactly one live ID', async () => {
  const app = sessionApp()
  const { id } = await create(app)
  const results = await Promise.all(
    Array.from({ length: 10 }, () => app.request(`/v1/sessions/${id}/rotate`, { method: 'POST' })),
  )
  const ok = results.filter((r) => r.status === 200)
  assert.is(ok.length, 1)
  const { id: survivor } = (await ok[0]!.json()) as SessionBody
  assert.is((await app.request(`/v1/sessions/${survivor}`)).status, 200)
})

test('DELETE ends one session; DELETE ?subject= ends every session of a subject', async () => {
  const app = sessionApp()
  const a = await create(app, {}, 'alice')
  const b = await create(app, {}, 'alice')
  const c = await create(app, {}, 'bob')
  assert.is((await app.request(`/v1/sessions/${c.id}`, { method: 'DELETE' })).status, 204)
  assert.is((await app.request(`/v1/sessions/${c.id}`, { method: 'DELETE' })).status, 404)
  assert.equal(await (await app.request('/v1/sessions?subject=alice', { method: 'DELETE' })).json(), { deleted: 2 })
  assert.is((await app.request(`/v1/sessions/${a.id}`)).status, 404)
  assert.is((await app.request(`/v1/sessions/${b.id}`)).status, 404)
  assert.is((await app.request('/v1/sessions', { method: 'DELETE' })).status, 400)
})

test('malformed and unknown IDs get the same 404', async () => {
  const app = sessionApp()
  const bodies = await Promise.all(
    ['short', newSessionId(), 'x'.repeat(43).replace('x', '!'), '%00'].map(async (id) => {
      const response = await app.request(`/v1/sessions/${id}`)
      return `${response.status} ${await response.text()}`
    }),
  )
  assert.is(new Set(bodies).size, 1, bodies.join('\n'))
  assert.match(bodies[0]!, /^404 /)
})

test('bad input is a 4xx problem naming the field', async () => {
  const app = sessionApp({ CACHECAR_SESSION_MAX_BYTES: '1KiB' })
  const { id } = await create(app)
  const cases: [string, RequestInit, number, string][] = [
    ['/v1/sessions', { method: 'POST', body: 'not json' }, 400, 'invalid-json'],
    ['/v1/sessions', { method: 'POST', ...json({ data: [1, 2] }) }, 400, 'invalid-request'],
    ['/v1/sessions', { method: 'POST', ...json({ data: 'text' }) }, 400, 'invalid-request'],
    ['/v1/sessions', { method: 'POST', ...json({ data: {}, subject: 5 }) }, 400, 'invalid-request'],
    ['/v1/sessions', { method: 'POST', ...json({ data: { big: 'x'.repeat(2000) } }) }, 413, 'payload-too-large'],
    [`/v1/sessions/${id}`, { method: 'PATCH', ...json([1]) }, 400, 'invalid-request'],
    [`/v1/sessions/${id}`, { method: 'PATCH', ...json({ big: 'x'.repeat(2000) }) }, 413, 'payload-too-large'],
    [`/v1/sessions/${id}`, { method: 'PUT', ...json({ nodata: 1 }) }, 400, 'invalid-request'],
    [
      `/v1/sessions/${id}`,
      { method: 'PUT', ...json({ data: {} }, { 'if-match': 'no-quotes' }) },
      400,
      'invalid-request',
    ],
    [`/v1/sessions/${id}?touch=maybe`, {}, 400, 'invalid-request'],
  ]
  for (const [path, init, status, kind] of cases) {
    const response = await app.request(path, init)
    assert.is(response.status, status, `${init.method} ${path} ${String(init.body).slice(0, 40)}`)
    assert.is((await problemOf(response)).type, `urn:cachecar:problem:${kind}`)
  }
  const still = (await (await app.request(`/v1/sessions/${id}`)).json()) as SessionBody
  assert.equal(still.data, { user: 'u1' }, 'no rejected write changed the session')
})

test('expired sessions are removed by the sweeper like any entry', async () => {
  const app = sessionApp()
  await create(app)
  app.clock.advance(30 * MIN)
  const swept = await app.store.sweepExpired(100)
  assert.is(swept.removed, 1)
})

test('merge patch follows RFC 7396 appendix A', () => {
  const rows: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ]
  for (const [target, patch, result] of rows)
    assert.equal(mergePatch(target as never, patch as never), result, JSON.stringify([target, patch]))
})

test('1,000,000 generated IDs are unique and 43 characters', () => {
  const ids = new Set<string>()
  for (let i = 0; i < 1_000_000; i++) {
    const id = newSessionId()
    if (id.length !== 43) assert.unreachable(`length ${id.length}`)
    ids.add(id)
  }
  assert.is(ids.size, 1_000_000)
})

test.run()

test('a stored record that is not one cachecar wrote is no session: every route answers 404 and splices nothing', async () => {
  const app = sessionApp()
  const { id: real } = await create(app, { user: 'u1' }, 'alice')
  const stored = (await app.store.get(SESSIONS, real))!
  const later = app.clock.now() + 60 * MIN
  const foreign: [string, string][] = [
    ['application/octet-stream', new TextDecoder().decode(stored.value)], // right bytes, wrong type
    ['application/x-cachecar-session', `${later}\n"admin"\n{"role":"admin"},"subject":"root"`], // JSON injection
    ['application/x-cachecar-session', `${later}\n"admin"\n["not","an","object"]`],
    ['application/x-cachecar-session', `${later}\n42\n{}`],
    ['application/x-cachecar-session', `soon\nnull\n{}`],
    ['application/x-cachecar-session', `${later}\nnull`],
    ['application/x-cachecar-session', ''],
  ]
  for (const [contentType, text] of foreign) {
    const id = newSessionId()
    await app.store.set({ namespace: SESSIONS, key: id, value: Buffer.from(text), contentType, ttlMs: 30 * MIN })
    for (const [method, path, body] of [
      ['GET', `/v1/sessions/${id}`],
      ['GET', `/v1/sessions/${id}?touch=false`],
      ['PUT', `/v1/sessions/${id}`, { data: {} }],
      ['PATCH', `/v1/sessions/${id}`, { x: 1 }],
      ['POST', `/v1/sessions/${id}/rotate`],
    ] as const) {
      const response = await app.request(path, { method, ...(body && json(body)) })
      assert.is(response.status, 404, `${method} ${path} for ${JSON.stringify(text)}`)
      assert.not.match(await response.text(), /admin|root/)
    }
  }
  assert.is((await app.request(`/v1/sessions/${real}`)).status, 200)
})
