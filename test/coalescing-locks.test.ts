// Every path that takes the fleet-wide coalescing lock releases it: a HEAD miss and an only-if-cached 504 no longer
// leave every other task waiting out CACHECAR_SHARED_COALESCE_MS.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from './helpers/cachecar.ts'
import { ManualClock } from './helpers/clock.ts'
import { startRedis, type TestRedis } from './helpers/redis.ts'
import { fakeUpstream, type FakeUpstream } from './helpers/upstream.ts'

interface Context { redis: TestRedis; origin: FakeUpstream; a: TestCachecar; b: TestCachecar }
const test = suite<Context>('coalescing locks are always released')
const COALESCE_MS = 3000

test.before.each(async (context) => {
  context.redis ??= await startRedis()
  context.origin = await fakeUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600' })
    res.end(`page ${req.url}`)
  })
  const env = {
    CACHECAR_UPSTREAMS: `api=${context.origin.url}`, CACHECAR_SHARED_URL: context.redis.url,
    CACHECAR_SHARED_PREFIX: `locks${Math.random().toString(36).slice(2)}:`, CACHECAR_SHARED_COALESCE_MS: `${COALESCE_MS}ms`,
  }
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000)
  context.a = await startCachecar(env, clock)
  context.b = await startCachecar(env, clock)
})
test.after.each(async ({ a, b, origin }) => {
  await Promise.all([a.shutdown(), b.shutdown()])
  await origin.close()
})
test.after(async ({ redis }) => { await redis.stop() })

/** How long task b takes to answer a GET of `path`: a lock left behind by task a makes it wait COALESCE_MS. */
async function bWaits({ b }: Context, path: string): Promise<number> {
  const started = performance.now()
  assert.is((await b.get(path)).status, 200)
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

test.run()
