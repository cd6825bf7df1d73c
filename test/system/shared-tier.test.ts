// Two cachecar instances (two tasks) sharing one real redis-server: cross-task hits, shared sessions and counters,
// invalidations reaching the other task, an outage (server killed mid-test) and recovery.
import { Redis } from 'ioredis'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { etagOf } from '../../src/store/keys.ts'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { ManualClock } from '../helpers/clock.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

interface Context {
  redis: TestRedis
  origin: FakeUpstream
  a: TestCachecar
  b: TestCachecar
  clock: ManualClock
}
const test = suite<Context>('shared tier: two tasks on one redis-server')
let prefixes = 0

test.before.each(async (context) => {
  context.redis ??= await startRedis()
  context.origin = await fakeUpstream((req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'cache-control': 'max-age=600',
      'surrogate-key': `item ${req.url?.split('/')[1] ?? ''}`,
      date: new Date(context.clock.now()).toUTCString(),
      // A POST answer naming its own URL: it may serve later GETs (RFC 9110 §9.3.3).
      ...(req.method === 'POST' && { 'content-location': req.url }),
    })
    res.end(`origin ${req.method === 'POST' ? 'answer to a POST' : 'body'} for ${req.url}`)
  })
  context.clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000)
  const env = {
    CACHECAR_SHARED_URL: context.redis.url,
    CACHECAR_SHARED_PREFIX: `test${prefixes++}:`,
    CACHECAR_SHARED_TIMEOUT_MS: '200ms',
    CACHECAR_SHARED_MAX_VALUE_BYTES: '4KiB',
    CACHECAR_UPSTREAMS: `api=${context.origin.url}`,
  }
  context.a = await startCachecar(env, context.clock)
  context.b = await startCachecar(env, context.clock)
})

test.after.each(async ({ a, b, origin }) => {
  await Promise.all([a.shutdown(), b.shutdown()])
  await origin.close()
})

test.after(async ({ redis }) => {
  await redis.stop()
})

const put = (car: TestCachecar, path: string, body: string) =>
  fetch(`${car.url}/v1/kv/${path}`, { method: 'PUT', body, headers: { 'content-type': 'text/plain' } })
const kv = async (car: TestCachecar, path: string) => {
  const response = await fetch(`${car.url}/v1/kv/${path}`)
  return { status: response.status, etag: response.headers.get('etag'), body: await response.text() }
}
const json = async (response: Response) => ({
  status: response.status,
  type: response.headers.get('content-type'),
  body: (await response.json()) as Record<string, unknown>,
})

test('a response one task fetched is a hit in the other, with one upstream request', async ({
  a,
  b,
  origin,
  clock,
}) => {
  const first = await fetchAndStore(a, '/u/api/items/1')
  assert.is(first.status, 200)
  assert.match(first.headers.get('cache-status') ?? '', /fwd=uri-miss/)
  clock.advance(5000)
  const second = await b.get('/u/api/items/1')
  assert.is(second.body, 'origin body for /items/1')
  assert.is(second.headers.get('cache-status'), 'cachecar; hit; ttl=595; detail=shared', 'an L2 hit says so')
  assert.is(second.headers.get('age'), '5', 'Age counts from the first fetch, in whichever task it happened')
  assert.is(origin.received.length, 1)
  // b filled its own store: the next read stays local, and says nothing of the shared tier.
  const third = await b.get('/u/api/items/1')
  assert.is(third.status, 200)
  assert.is(third.headers.get('cache-status'), 'cachecar; hit; ttl=595')
  assert.is(origin.received.length, 1)
})

test('coalescing across tasks: a herd on a cold URL in two tasks makes one upstream request', async ({
  redis,
  clock,
}) => {
  let requests = 0
  const slow = await fakeUpstream((req, res) => {
    requests++
    const cacheable = !req.url?.includes('private')
    const body = req.url?.includes('big') ? 'x'.repeat(8192) : `slow ${req.url}`
    const error = req.url?.includes('error')
    const headers = req.url?.includes('heuristic')
      ? { 'last-modified': new Date(clock.now() - 86_400_000).toUTCString() } // storable, but not for a Cookie request
      : error
        ? {} // a 503 without freshness: not stored (one with max-age would be)
        : { 'cache-control': cacheable ? 'max-age=600' : 'no-store' }
    const status = error ? 503 : 200
    setTimeout(() => res.writeHead(status, { ...headers, date: new Date(clock.now()).toUTCString() }).end(body), 300)
  })
  const env = {
    CACHECAR_SHARED_URL: redis.url,
    CACHECAR_SHARED_PREFIX: `coalesce${prefixes++}:`,
    CACHECAR_SHARED_COALESCE_MS: '4000ms',
    CACHECAR_SHARED_MAX_VALUE_BYTES: '4KiB',
    CACHECAR_UPSTREAMS: `api=${slow.url}`,
  }
  const [c, d] = await Promise.all([startCachecar(env, clock), startCachecar(env, clock)])
  try {
    const herd = (path: string) => Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? c : d).get(path)))
    const answers = await herd('/u/api/cold')
    assert.is(requests, 1, 'one upstream request for the fleet')
    // The task that did not fetch it waited for the other's fetch: its waiters say collapsed, not hit.
    const byTask = [1, 0].map((parity) =>
      answers.filter((_, i) => i % 2 === parity).map((a) => a.headers.get('cache-status') ?? ''),
    )
    const waiting = byTask.find((statuses) => !statuses.some((status) => status.includes('fwd-status=200; detail')))!
    assert.ok(
      waiting.some((status) => /^cachecar; fwd=uri-miss; fwd-status=200; ttl=\d+; collapsed$/.test(status)),
      `cross-task waiters say collapsed: ${[...new Set(waiting)].join(' | ')}`,
    )
    assert.equal([...new Set(answers.map((a) => `${a.status} ${a.body}`))], ['200 slow /cold'])
    // Not storable: the answer may not be reused, so every request goes upstream itself; the other task's requests
    // go as soon as the lock holder learns that (one upstream round trip), not when the 4 s lock would expire. The lock
    // is long so that a busy CI machine (the first run took 1.27 s here) cannot blur the two outcomes.
    requests = 0
    const started = performance.now()
    const uncached = await herd('/u/api/private')
    assert.equal([...new Set(uncached.map((a) => `${a.status} ${a.body}`))], ['200 slow /private'])
    assert.is(requests, 100, 'a no-store answer is shared with no one')
    const elapsed = performance.now() - started
    assert.ok(elapsed < 3000, `the lock was released, not waited out: ${Math.round(elapsed)} ms`)
    // Hit-for-pass: the URL's last answer was not storable, so the next misses in both tasks go upstream at once,
    // neither taking a lock nor waiting on the other's.
    const before = await Promise.all([coalesceCounts(c), coalesceCounts(d)])
    requests = 0
    const again = await Promise.all([c.get('/u/api/private'), d.get('/u/api/private')])
    assert.equal(
      again.map((a) => a.body),
      ['slow /private', 'slow /private'],
    )
    assert.is(requests, 2)
    const after = await Promise.all([coalesceCounts(c), coalesceCounts(d)])
    for (const i of [0, 1]) {
      assert.is(after[i]!.pass - before[i]!.pass, 1, `task ${i}: its miss passed`)
      assert.is(after[i]!.wait, before[i]!.wait, `task ${i}: nothing waited`)
      assert.is(after[i]!.lead, before[i]!.lead, `task ${i}: no lock was taken`)
    }
    // A cacheable URL is untouched by the marker: one task leads, the other waits.
    const cold = await Promise.all([coalesceCounts(c), coalesceCounts(d)])
    await herd('/u/api/cold2')
    const warm = await Promise.all([coalesceCounts(c), coalesceCounts(d)])
    assert.is(warm[0]!.lead + warm[1]!.lead - cold[0]!.lead - cold[1]!.lead, 1, 'one task led the cacheable URL')
    assert.is(warm[0]!.pass + warm[1]!.pass, cold[0]!.pass + cold[1]!.pass)
    // Too large for the shared tier: stored in the fetching task's L1 only, so the other task's miss passes too.
    const storedBefore = await storedCount(c)
    assert.is((await c.get('/u/api/big')).body.length, 8192)
    // The answer reaches the client before it is stored: wait for the store (and its pass marker), not a guess.
    assert.ok(await eventually(async () => (await storedCount(c)) > storedBefore), 'task c stored the big response')
    const beforeBig = await coalesceCounts(d)
    assert.is((await d.get('/u/api/big')).body.length, 8192)
    const afterBig = await coalesceCounts(d)
    assert.equal(
      [afterBig.pass - beforeBig.pass, afterBig.wait - beforeBig.wait, afterBig.lead - beforeBig.lead],
      [1, 0, 0],
    )
    // No marker when the reason was the request's own (a Cookie) or an upstream error: the other task still leads.
    for (const [path, headers] of [
      ['/u/api/heuristic', { cookie: 'session=1' }],
      ['/u/api/error', {}],
    ] as const) {
      await c.get(path, headers)
      const before = await coalesceCounts(d)
      await d.get(path)
      const after = await coalesceCounts(d)
      assert.equal([after.pass - before.pass, after.lead - before.lead], [0, 1], path)
    }
  } finally {
    await Promise.all([c.shutdown(), d.shutdown()])
    await slow.close()
  }
})

/** How many responses the task has stored, from its /metrics. */
async function storedCount(car: TestCachecar): Promise<number> {
  const text = await (await fetch(`${car.url}/metrics`)).text()
  return Number(/cachecar_proxy_events_total\{upstream="api",event="stored"\} (\d+)/.exec(text)?.[1] ?? 0)
}

/** cachecar_shared_coalesce_total by outcome, from the task's /metrics. */
async function coalesceCounts(car: TestCachecar): Promise<Record<'lead' | 'wait' | 'pass', number>> {
  const text = await (await fetch(`${car.url}/metrics`)).text()
  const count = (outcome: string) =>
    Number(new RegExp(`^cachecar_shared_coalesce_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
  return { lead: count('lead'), wait: count('wait'), pass: count('pass') }
}

test("a purge in one task removes the entry from the other task's local store too", async ({ a, b, origin }) => {
  await fetchAndStore(a, '/u/api/items/2')
  await b.get('/u/api/items/2') // now in b's local store as well
  const purge = await fetch(`${a.url}/v1/cache/purge`, {
    method: 'POST',
    body: JSON.stringify({ upstream: 'api', path: '/items/2' }),
  })
  assert.is(purge.status, 200)
  // b holds the response locally for ten minutes unless the invalidation reaches it.
  assert.ok(
    await eventually(async () =>
      /fwd=uri-miss/.test((await b.get('/u/api/items/2')).headers.get('cache-status') ?? ''),
    ),
    'b dropped its copy',
  )
  assert.is(origin.received.length, 2)
})

test("a POST answer naming its URL is stored after the POST's own invalidation, and the other task serves it", async ({
  a,
  b,
  origin,
}) => {
  await fetchAndStore(a, '/u/api/items/9')
  await b.get('/u/api/items/9') // in b's local store as well
  const post = await fetch(`${a.url}/u/api/items/9`, { method: 'POST', body: '{}' })
  assert.is(await post.text(), 'origin answer to a POST for /items/9')
  assert.match(post.headers.get('cache-status') ?? '', 'fwd=method; fwd-status=200; ttl=600; stored')
  assert.ok(
    await eventually(async () => (await b.get('/u/api/items/9')).body === 'origin answer to a POST for /items/9'),
    "b dropped its old copy and took the POST's answer",
  )
  assert.is((await a.get('/u/api/items/9')).body, 'origin answer to a POST for /items/9')
  assert.equal(
    origin.received.map((r) => r.method),
    ['GET', 'POST'],
    'no GET went upstream after the POST',
  )
})

test('a soft purge in one task makes the other revalidate instead of serving its fresh copy', async ({
  a,
  b,
  origin,
}) => {
  await fetchAndStore(a, '/u/api/items/4')
  await b.get('/u/api/items/4')
  const purge = await fetch(`${a.url}/v1/cache/purge`, {
    method: 'POST',
    body: JSON.stringify({ upstream: 'api', path: '/items/4', soft: true }),
  })
  assert.equal(await purge.json(), { purged: 1 })
  assert.ok(
    await eventually(async () => /fwd=stale/.test((await b.get('/u/api/items/4')).headers.get('cache-status') ?? '')),
    'b went upstream for its copy',
  )
  assert.is(origin.received.length, 2)
})

test('a surrogate-key purge in one task reaches the other', async ({ a, b, origin }) => {
  await fetchAndStore(a, '/u/api/items/3')
  await b.get('/u/api/items/3')
  const purge = await fetch(`${b.url}/v1/cache/purge`, {
    method: 'POST',
    body: JSON.stringify({ surrogateKeys: ['items'] }),
  })
  assert.equal(await purge.json(), { purged: 1 })
  assert.ok(
    await eventually(async () =>
      /fwd=uri-miss/.test((await a.get('/u/api/items/3')).headers.get('cache-status') ?? ''),
    ),
    'a dropped its copy',
  )
  assert.is(origin.received.length, 2)
  assert.ok((await metricValue(a, 'cachecar_shared_invalidations_received_total')) >= 1)
})

test('key/value writes and deletes in one task are seen by the other', async ({ a, b }) => {
  assert.is((await put(a, 'app/greeting', 'hello')).status, 201)
  const read = await kv(b, 'app/greeting')
  assert.is(read.body, 'hello')
  assert.is(read.etag, etagOf(Buffer.from('hello')), 'the same strong ETag in every task')
  assert.is((await put(a, 'app/greeting', 'bonjour')).status, 204)
  // b holds 'hello' locally for an hour unless the invalidation reaches it.
  assert.ok(
    await eventually(async () => (await kv(b, 'app/greeting')).body === 'bonjour'),
    'b dropped its old copy when a replaced the value',
  )
  assert.is((await fetch(`${b.url}/v1/kv/app/greeting`, { method: 'DELETE' })).status, 204)
  assert.ok(
    await eventually(async () => (await kv(a, 'app/greeting')).status === 404),
    'a dropped its copy when b deleted the key',
  )
})

test('listing a namespace shows keys written in every task, pages included', async ({ a, b }) => {
  for (const key of ['k1', 'k3']) await put(a, `list/${key}`, 'a')
  for (const key of ['k2', 'k4']) await put(b, `list/${key}`, 'b')
  const first = (await (await fetch(`${a.url}/v1/kv/list?limit=3`)).json()) as {
    items: { key: string }[]
    cursor: string
  }
  assert.equal(
    first.items.map((i) => i.key),
    ['k1', 'k2', 'k3'],
  )
  const second = (await (await fetch(`${a.url}/v1/kv/list?limit=3&cursor=${first.cursor}`)).json()) as {
    items: { key: string }[]
    cursor: string | null
  }
  assert.equal(
    second.items.map((i) => i.key),
    ['k4'],
  )
  assert.is(second.cursor, null)
})

test('If-Match is checked against the shared copy: a write from another task is a conflict', async ({ a, b }) => {
  await put(a, 'app/doc', 'v1')
  const etag = (await kv(b, 'app/doc')).etag!
  await put(a, 'app/doc', 'v2')
  const stale = await fetch(`${b.url}/v1/kv/app/doc`, { method: 'PUT', body: 'from b', headers: { 'if-match': etag } })
  assert.is(stale.status, 412)
})

test('counters incremented from two tasks count every increment', async ({ a, b }) => {
  await Promise.all(
    Array.from({ length: 100 }, (_, i) => fetch(`${(i % 2 ? a : b).url}/v1/kv/app/hits/incr`, { method: 'POST' })),
  )
  assert.is((await kv(a, 'app/hits')).body, '100')
  const read = await kv(b, 'app/hits')
  assert.is(read.body, '100')
  assert.is(read.etag, etagOf(Buffer.from('100')), 'the engine computes the same ETag as cachecar does for those bytes')
})

test('values above the shared size limit stay in the task that wrote them', async ({ a, b }) => {
  assert.is((await put(a, 'app/big', 'x'.repeat(8192))).status, 201)
  assert.is((await kv(a, 'app/big')).body.length, 8192)
  assert.is((await kv(b, 'app/big')).status, 404)
})

test('a session created in one task is read, changed and ended in the other', async ({ a, b, redis }) => {
  const created = await json(
    await fetch(`${a.url}/v1/sessions`, {
      method: 'POST',
      body: JSON.stringify({ data: { cart: 1 }, subject: 'user\nwith a newline' }),
    }),
  )
  assert.is(created.status, 201)
  const id = created.body.id as string
  const read = await json(await fetch(`${b.url}/v1/sessions/${id}`))
  assert.equal((read.body as { data: unknown }).data, { cart: 1 })
  await fetch(`${b.url}/v1/sessions/${id}`, { method: 'PATCH', body: JSON.stringify({ cart: 2 }) })
  assert.equal(
    ((await json(await fetch(`${a.url}/v1/sessions/${id}`))).body as { data: unknown }).data,
    { cart: 2 },
    'no wait: sessions are read from the shared tier',
  )
  // Session IDs are secrets: the engine holds only their digests.
  const client = new Redis(redis.url)
  const keys = await client.keys('*')
  await client.quit()
  assert.ok(keys.length > 0)
  assert.not.ok(
    keys.some((key) => key.includes(id)),
    'no key holds the session ID',
  )
  assert.is((await fetch(`${b.url}/v1/sessions/${id}`, { method: 'DELETE' })).status, 204)
  assert.is((await fetch(`${a.url}/v1/sessions/${id}`)).status, 404, 'ended everywhere at once')
})

test("log out everywhere: a subject's sessions created in both tasks end from either", async ({ a, b }) => {
  const ids: string[] = []
  for (const car of [a, b, a]) {
    ids.push(
      (
        await json(
          await fetch(`${car.url}/v1/sessions`, {
            method: 'POST',
            body: JSON.stringify({ data: {}, subject: 'alice' }),
          }),
        )
      ).body.id as string,
    )
  }
  assert.equal((await json(await fetch(`${b.url}/v1/sessions?subject=alice`, { method: 'DELETE' }))).body, {
    deleted: 3,
  })
  for (const id of ids) assert.is((await fetch(`${a.url}/v1/sessions/${id}`)).status, 404)
})

test('the shared tier going down fails nothing but sessions (503 problem); it comes back by itself', async ({
  a,
  b,
  redis,
  origin,
}) => {
  const announced = (await metricValue(b, 'cachecar_shared_invalidations_received_total')) || 0
  await put(a, 'app/kept', 'local copy')
  // a announces the write (the namespace announces every write); once b has applied that, the copy it reads next
  // stays. Reading first raced the announcement, which then dropped b's fresh copy (seen once in CI).
  assert.ok(
    await eventually(
      async () => (await metricValue(b, 'cachecar_shared_invalidations_received_total')) > announced,
      5000,
    ),
    'b heard of the write',
  )
  await kv(b, 'app/kept') // b holds a local copy now
  await fetchAndStore(b, '/u/api/items/9')
  const session = (
    await json(await fetch(`${a.url}/v1/sessions`, { method: 'POST', body: JSON.stringify({ data: { n: 1 } }) }))
  ).body.id as string
  await redis.kill()
  assert.ok(
    await eventually(
      async () =>
        (await metricValue(b, 'cachecar_shared_up')) === 0 && (await metricValue(a, 'cachecar_shared_up')) === 0,
      5000,
    ),
    'both report the outage',
  )

  const started = performance.now()
  assert.is((await kv(b, 'app/kept')).body, 'local copy', 'local copies keep serving')
  assert.is((await put(b, 'app/during', 'written locally')).status, 201, 'writes land locally')
  assert.is((await kv(b, 'app/during')).body, 'written locally')
  assert.match((await b.get('/u/api/items/9')).headers.get('cache-status') ?? '', /hit/)
  assert.is((await b.get('/u/api/items/10')).status, 200, 'misses still go upstream')
  const down = await json(await fetch(`${a.url}/v1/sessions/${session}`))
  assert.is(down.status, 503)
  assert.is(down.type, 'application/problem+json')
  assert.match(String(down.body.type), /shared-tier-unavailable/)
  assert.is(
    (await fetch(`${a.url}/v1/sessions`, { method: 'POST', body: JSON.stringify({ data: {} }) })).status,
    503,
    'no session is created that other tasks could not see',
  )
  const ready = await json(await fetch(`${a.url}/readyz`))
  assert.is(ready.status, 200, 'degraded, not unready: the task keeps serving')
  assert.is((ready.body.shared as { state: string }).state, 'down')
  // The shape the README documents for /readyz, field for field.
  assert.equal(Object.keys(ready.body), ['status', 'shared'])
  assert.equal(Object.keys(ready.body.shared as object), ['state', 'url', 'up', 'connected', 'circuitOpenMs'])
  assert.not.match(JSON.stringify(ready.body), /password/)
  assert.ok(performance.now() - started < 2000, 'nothing waited on the dead server')
  assert.ok(origin.received.length >= 2)

  await redis.restart()
  assert.ok(
    await eventually(
      async () =>
        (await metricValue(a, 'cachecar_shared_up')) === 1 && (await metricValue(b, 'cachecar_shared_up')) === 1,
      10_000,
    ),
    'both reconnect',
  )
  const again = await json(
    await fetch(`${a.url}/v1/sessions`, { method: 'POST', body: JSON.stringify({ data: { back: true } }) }),
  )
  assert.is(again.status, 201)
  assert.is((await fetch(`${b.url}/v1/sessions/${again.body.id as string}`)).status, 200)
  assert.is(((await json(await fetch(`${a.url}/readyz`))).body.shared as { state: string }).state, 'up')
})

test('a shared tier that stops answering costs each request at most its timeout, then nothing', async ({
  a,
  redis,
}) => {
  await put(a, 'app/warm', 'w') // a holds it locally
  redis.pause()
  try {
    const times: number[] = []
    for (let i = 0; i < 6; i++) {
      const started = performance.now()
      assert.is((await kv(a, `app/missing${i}`)).status, 404, 'a read that misses locally degrades to a miss')
      times.push(performance.now() - started)
    }
    assert.ok(
      times.slice(0, 3).every((ms) => ms >= 150 && ms < 1000),
      `the first reads wait out the 200 ms timeout: ${times.map(Math.round)}`,
    )
    assert.ok(
      times.slice(3).every((ms) => ms < 150),
      `then the circuit is open and reads do not wait: ${times.map(Math.round)}`,
    )
    assert.is((await kv(a, 'app/warm')).body, 'w')
    assert.is(await metricValue(a, 'cachecar_shared_up'), 0, 'an open circuit counts as down')
    const session = await fetch(`${a.url}/v1/sessions`, { method: 'POST', body: JSON.stringify({ data: {} }) })
    assert.is(session.status, 503)
  } finally {
    redis.resume()
  }
  assert.ok(
    await eventually(
      async () =>
        (await fetch(`${a.url}/v1/sessions`, { method: 'POST', body: JSON.stringify({ data: {} }) })).status === 201,
      5000,
    ),
    'sessions work again once it answers',
  )
  assert.is(await metricValue(a, 'cachecar_shared_up'), 1, 'the closed circuit is reported')
})

/**
 * A miss that the task has finished storing: the store happens after the body went out, and a request from
 * another task comes later anyway; without the wait, that request could race the store.
 */
async function fetchAndStore(car: TestCachecar, path: string): Promise<Awaited<ReturnType<TestCachecar['get']>>> {
  const stored = async () =>
    Number(
      /cachecar_proxy_events_total\{upstream="api",event="stored"\} (\d+)/.exec(
        await (await fetch(`${car.url}/metrics`)).text(),
      )?.[1] ?? 0,
    )
  const before = await stored()
  const response = await car.get(path)
  assert.ok(await eventually(async () => (await stored()) > before), `${path} was stored`)
  return response
}

/** The instance's current value of an unlabelled metric. */
async function metricValue(car: TestCachecar, name: string): Promise<number> {
  const text = await (await fetch(`${car.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.split(' ')[1]) : NaN
}

test.run()
