// A purge always wins over a fill in flight: a response still streaming from the upstream when a matching purge
// arrives (by URL, prefix, surrogate key, soft) is served to its client but never stored, locally or fleet-wide.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { ManualClock } from '../helpers/clock.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

interface Context {
  car: TestCachecar
  origin: FakeUpstream
  redis?: TestRedis
  finish: (() => void)[]
  version: number
}

const PURGES: [string, Record<string, unknown>][] = [
  ['by URL', { upstream: 'api', path: '/items/1' }],
  ['by prefix', { upstream: 'api', prefix: '/items/' }],
  ['by surrogate key', { surrogateKeys: ['item-1'] }],
  ['soft, by URL', { upstream: 'api', path: '/items/1', soft: true }],
]

/** An origin that sends headers and half of each body at once, and the rest when the test calls `finish[i]`. */
async function heldOrigin(context: { finish: (() => void)[]; version: number; origin: FakeUpstream }): Promise<void> {
  context.finish = []
  context.version = 0
  context.origin = await fakeUpstream((_req, res) => {
    const version = ++context.version
    res.writeHead(200, {
      'content-type': 'text/plain',
      'cache-control': 'max-age=600',
      'surrogate-key': 'item-1',
      'content-length': '10',
    })
    res.write(`v${version}-a`)
    context.finish.push(() => res.end('-bbbbb'))
  })
}

function purgeSuite(name: string, env: (context: Context) => Promise<Record<string, string>>): void {
  const test = suite<Context>(name)
  test.before.each(async (context) => {
    await heldOrigin(context)
    context.car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${context.origin.url}`, ...(await env(context)) })
  })
  test.after.each(async ({ car, origin }) => {
    await car.shutdown()
    await origin.close()
  })
  test.after(async ({ redis }) => {
    await redis?.stop()
  })

  for (const [kind, body] of PURGES) {
    test(`a purge ${kind} that arrives while the response is streaming keeps it from being stored`, async (context) => {
      const { car } = context
      const first = fetch(`${car.url}/u/api/items/1`).then((r) => r.text())
      assert.ok(await eventually(() => context.finish.length === 1), 'the upstream was asked')
      const purge = await fetch(`${car.url}/v1/cache/purge`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      })
      assert.is(purge.status, 200)
      context.finish[0]!()
      assert.match(await first, /^v1-a/, 'the client still gets the response it asked for')
      // Once the fill has ended one way or the other, ask again: the purge must have won.
      assert.ok(
        await eventually(async () =>
          /event="(stored|overtaken)"} 1/.test(await (await fetch(`${car.url}/metrics`)).text()),
        ),
        'the fill ended',
      )
      const second = fetch(`${car.url}/u/api/items/1`).then(async (r) => ({
        text: await r.text(),
        status: r.headers.get('cache-status'),
      }))
      assert.ok(
        await eventually(() => context.finish.length === 2),
        'the request after the purge went upstream: the fill was stored',
      )
      context.finish[1]!()
      assert.match((await second).text, /^v2-a/)
    })
  }

  test('a purge of another URL does not keep a fill from being stored', async (context) => {
    const { car } = context
    const first = fetch(`${car.url}/u/api/items/1`).then((r) => r.text())
    assert.ok(await eventually(() => context.finish.length === 1))
    await fetch(`${car.url}/v1/cache/purge`, {
      method: 'POST',
      body: JSON.stringify({ upstream: 'api', path: '/items/2' }),
      headers: { 'content-type': 'application/json' },
    })
    context.finish[0]!()
    await first
    assert.ok(
      await eventually(async () =>
        ((await car.get('/u/api/items/1')).headers.get('cache-status') ?? '').includes('hit'),
      ),
      'stored and served as a hit',
    )
    assert.is(context.version, 1)
  })

  test.run()
}

purgeSuite('purge beats fill: local store', async () => ({}))

purgeSuite('purge beats fill: tiered store over redis-server', async (context) => {
  context.redis ??= await startRedis()
  return {
    CACHECAR_SHARED_URL: context.redis.url,
    CACHECAR_SHARED_PREFIX: `pbf${Math.random().toString(36).slice(2)}:`,
  }
})

interface TwoTasks {
  redis: TestRedis
  origin: FakeUpstream
  a: TestCachecar
  b: TestCachecar
  finish: (() => void)[]
  version: number
}
const across = suite<TwoTasks>('purge beats fill: a purge in one task, a fill in another, over redis-server')

across.before.each(async (context) => {
  context.redis ??= await startRedis()
  await heldOrigin(context)
  const env = {
    CACHECAR_UPSTREAMS: `api=${context.origin.url}`,
    CACHECAR_SHARED_URL: context.redis.url,
    CACHECAR_SHARED_PREFIX: `pbx${Math.random().toString(36).slice(2)}:`,
  }
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000)
  context.a = await startCachecar(env, clock)
  context.b = await startCachecar(env, clock)
})
across.after.each(async ({ a, b, origin }) => {
  await Promise.all([a.shutdown(), b.shutdown()])
  await origin.close()
})
across.after(async ({ redis }) => {
  await redis.stop()
})

for (const [kind, body] of PURGES) {
  across(
    `a purge ${kind} sent to task a keeps task b's fill in flight from being stored in either tier`,
    async (context) => {
      const { a, b } = context
      const first = fetch(`${b.url}/u/api/items/1`).then((r) => r.text())
      assert.ok(await eventually(() => context.finish.length === 1), 'task b asked the upstream')
      const purge = await fetch(`${a.url}/v1/cache/purge`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      })
      assert.is(purge.status, 200)
      context.finish[0]!()
      assert.match(await first, /^v1-a/)
      assert.ok(
        await eventually(async () =>
          /event="(stored|overtaken)"} 1/.test(await (await fetch(`${b.url}/metrics`)).text()),
        ),
        'the fill ended',
      )
      // Past the notes' clock margin, a new fill through task a is stored as usual; task b then serves that one, not its own.
      b.clock.advance(2000)
      const fresh = fetch(`${a.url}/u/api/items/1`).then((r) => r.text())
      assert.ok(
        await eventually(() => context.finish.length === 2),
        'task a served the overtaken fill from the shared tier',
      )
      context.finish[1]!()
      assert.match(await fresh, /^v2-a/)
      assert.ok(await eventually(async () => /event="stored"} 1/.test(await (await fetch(`${a.url}/metrics`)).text())))
      assert.match((await b.get('/u/api/items/1')).body, /^v2-a/, 'task b kept its overtaken fill')
      assert.is(context.version, 2)
    },
  )
}

across.run()

const notes = suite<{ redis: TestRedis }>('purge notes in the shared tier')

notes.after(async ({ redis }) => {
  await redis?.stop()
})

notes(
  'a write is refused when a purge of its key, its URL (for a Vary variant), a prefix or a tag was noted since it began, or when it began too long ago',
  async (context) => {
    context.redis ??= await startRedis()
    const { SharedTier } = await import('../../src/store/shared/shared-tier.ts')
    const { etagOf } = await import('../../src/store/keys.ts')
    const shared = new SharedTier({
      url: context.redis.url,
      prefix: `notes${Math.random().toString(36).slice(2)}:`,
      timeoutMs: 500,
      instanceId: 'test',
    })
    assert.ok(await shared.waitUntilUp(2000))
    const now = Date.now()
    const entry = (key: string, tags: string[] = []) => {
      const value = Buffer.from(`value of ${key}`)
      return {
        namespace: '#http:api',
        key,
        value,
        contentType: 'text/plain',
        etag: etagOf(value),
        tags,
        writtenAt: now,
        expiresAt: now + 60_000,
        size: value.byteLength,
      }
    }
    const since = now - 100
    assert.is(await shared.write(entry('/fresh'), '', now, since), 'created', 'nothing purged: stored')
    assert.is(
      await shared.write(entry('/old'), '', now, now - 11 * 60_000),
      'overtaken',
      'begun before the notes reach back',
    )
    await shared.notePurge({ namespace: '#http:api', key: '/x' }, now)
    assert.is(await shared.write(entry('/x'), '', now, since), 'overtaken')
    assert.is(
      await shared.write(entry('/x\u0000["gzip"]'), '', now, since),
      'overtaken',
      'a Vary variant of the purged URL',
    )
    assert.is(await shared.write(entry('/xy'), '', now, since), 'created', 'another URL')
    await shared.notePurge({ namespace: '#http:api', prefix: '/items/' }, now)
    assert.is(await shared.write(entry('/items/7'), '', now, since), 'overtaken')
    await shared.notePurge({ tags: ['#surrogate item-9'] }, now)
    assert.is(await shared.write(entry('/other', ['#surrogate item-9']), '', now, since), 'overtaken')
    assert.equal(await shared.writeAll([entry('/y'), entry('/items/8')], now, since), ['/items/8'])
    assert.ok(await shared.overtaken('#http:api', '/items/9', [], since, now))
    assert.not.ok(await shared.overtaken('#http:api', '/elsewhere', [], since, now))
    assert.is(
      await shared.write(entry('/x'), '', now + 5000, now + 5000),
      'created',
      'a fill begun after the purge (past the clock margin)',
    )
    await shared.close()
  },
)

notes.run()

const log = suite('purge log')

log(
  'a fill is overtaken only by a matching purge made after it began; the log stays bounded and errs on the safe side',
  async () => {
    const { PurgeLog } = await import('../../src/http-cache/purge-log.ts')
    const purges = new PurgeLog(3)
    purges.record((u, k) => u === 'api' && k === '/a')
    const since = purges.position()
    assert.not.ok(purges.overtaken(since, 'api', '/a', []), 'a purge before the fill began')
    purges.record((u, k) => u === 'api' && k === '/b')
    assert.not.ok(purges.overtaken(since, 'api', '/a', []), 'a purge of another URL')
    assert.ok(purges.overtaken(since, 'api', '/b', []))
    // Three more purges push the one the fill must see out of the log: the fill counts as overtaken.
    for (const key of ['/c', '/d', '/e']) purges.record((_u, k) => k === key)
    assert.ok(purges.overtaken(since, 'api', '/z', []), 'forgotten purges count as matching')
    assert.not.ok(purges.overtaken(purges.position(), 'api', '/z', []))
  },
)

log.run()
