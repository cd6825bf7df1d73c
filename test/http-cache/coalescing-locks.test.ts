// Every path that takes the fleet-wide coalescing lock releases it: a HEAD miss and an only-if-cached 504 no longer
// leave every other task waiting out CACHECAR_SHARED_COALESCE_MS.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
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
}
const test = suite<Context>('coalescing locks are always released')
const COALESCE_MS = 3000

test.before.each(async (context) => {
  context.redis ??= await startRedis()
  context.origin = await fakeUpstream((req, res) => {
    const vary = req.url?.startsWith('/varies') ? { vary: 'accept-language' } : {}
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', ...vary })
    res.end(`page ${req.url}`)
  })
  const env = {
    CACHECAR_UPSTREAMS: `api=${context.origin.url}`,
    CACHECAR_SHARED_URL: context.redis.url,
    CACHECAR_SHARED_PREFIX: `locks${Math.random().toString(36).slice(2)}:`,
    CACHECAR_SHARED_COALESCE_MS: `${COALESCE_MS}ms`,
  }
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000)
  context.a = await startCachecar(env, clock)
  context.b = await startCachecar(env, clock)
})
test.after.each(async ({ a, b, origin }) => {
  await Promise.all([a.shutdown(), b.shutdown()])
  await origin.close()
})
test.after(async ({ redis }) => {
  await redis.stop()
})

/** How long task b takes to answer a GET of `path`: a lock left behind by task a makes it wait COALESCE_MS. */
async function bWaits({ b }: Context, path: string, headers: Record<string, string> = {}): Promise<number> {
  const started = performance.now()
  assert.is((await b.get(path, headers)).status, 200)
  return performance.now() - started
}

test('a HEAD miss releases the lock its lookup took', async (context) => {
  assert.is((await fetch(`${context.a.url}/u/api/head`, { method: 'HEAD' })).status, 200)
  const waited = await bWaits(context, '/u/api/head')
  assert.ok(waited < COALESCE_MS / 2, `task b waited ${Math.round(waited)} ms on task a's lock`)
})

test('an only-if-cached miss (504) releases the lock its lookup took', async (context) => {
  assert.is((await context.a.get('/u/api/oic', { 'cache-control': 'only-if-cached' })).status, 504)
  const waited = await bWaits(context, '/u/api/oic')
  assert.ok(waited < COALESCE_MS / 2, `task b waited ${Math.round(waited)} ms on task a's lock`)
})

/** Task a asks for `path` in English and stores the answer (the store lands after the answer: wait for it). */
async function storedInEnglish({ a }: Context, path: string): Promise<void> {
  assert.is((await a.get(path, { 'accept-language': 'en' })).status, 200)
  const hit = () =>
    a.get(path, { 'accept-language': 'en' }).then((r) => String(r.headers.get('cache-status')).includes('hit'))
  assert.ok(await eventually(hit), 'the English variant was never stored')
}

test('a response with Vary is stored at once: its fill never waits on the lock its own miss took', async ({ a }) => {
  const started = performance.now()
  assert.is((await a.get('/u/api/varies-now', { 'accept-language': 'en' })).status, 200)
  const again = await a.get('/u/api/varies-now', { 'accept-language': 'en' })
  const took = performance.now() - started
  assert.ok(
    took < COALESCE_MS / 2,
    `the response was stored after ${Math.round(took)} ms (it read its URL's key and waited on its own lock)`,
  )
  assert.match(String(again.headers.get('cache-status')), /hit|collapsed/)
})

// A URL stored with Vary: a request for another variant misses on the variant's own key, and takes the lock there.
test('a HEAD miss of a Vary variant releases the lock on that variant', async (context) => {
  await storedInEnglish(context, '/u/api/varies')
  assert.is(
    (await fetch(`${context.a.url}/u/api/varies`, { method: 'HEAD', headers: { 'accept-language': 'fr' } })).status,
    200,
  )
  const waited = await bWaits(context, '/u/api/varies', { 'accept-language': 'fr' })
  assert.ok(waited < COALESCE_MS / 2, `task b waited ${Math.round(waited)} ms on task a's lock`)
})

test('an only-if-cached miss of a Vary variant releases the lock on that variant', async (context) => {
  await storedInEnglish(context, '/u/api/varies-oic')
  assert.is(
    (await context.a.get('/u/api/varies-oic', { 'accept-language': 'fr', 'cache-control': 'only-if-cached' })).status,
    504,
  )
  const waited = await bWaits(context, '/u/api/varies-oic', { 'accept-language': 'fr' })
  assert.ok(waited < COALESCE_MS / 2, `task b waited ${Math.round(waited)} ms on task a's lock`)
})

test("a Vary variant's miss answered without Vary (stored under the URL) releases the lock on the variant", async (context) => {
  let vary = true
  context.origin.handle = (_req, res) => {
    setTimeout(
      () => {
        res.writeHead(200, {
          'content-type': 'text/plain',
          'cache-control': 'max-age=600',
          ...(vary && { vary: 'accept-language' }),
        })
        res.end('page')
      },
      vary ? 0 : 300,
    )
  }
  await storedInEnglish(context, '/u/api/changes')
  vary = false
  const filling = context.a.get('/u/api/changes', { 'accept-language': 'fr' })
  await new Promise((resolve) => setTimeout(resolve, 100)) // task a holds the lock on the fr variant
  const waited = await bWaits(context, '/u/api/changes', { 'accept-language': 'fr' })
  assert.is((await filling).status, 200)
  assert.ok(waited < COALESCE_MS / 2, `task b waited ${Math.round(waited)} ms on task a's lock`)
})

test.run()
