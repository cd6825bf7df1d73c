// Upstream bodies collected for the cache stay within CACHECAR_FILL_MEMORY_BYTES, all fills together: a fill without
// room streams through unstored, and the room comes back once fills are done.
import type { Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BodyBudget } from '../../src/http/body-budget.ts'
import { FillHold } from '../../src/http-cache/proxy/fill-memory.ts'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { eventually, headersOf, rawUpstream, type RawUpstream } from '../helpers/raw-upstream.ts'

let car: TestCachecar | undefined
let upstream: RawUpstream | undefined

test.after.each(async () => {
  await car?.shutdown()
  await upstream?.close()
  car = upstream = undefined
})

const KB = 1000

test('a fill holds what it covers, small bodies never count, and release gives it all back', () => {
  const budget = new BodyBudget(1024 ** 2)
  const a = new FillHold(budget)
  const b = new FillHold(budget)
  assert.ok(a.cover(60 * 1024), 'under 64 KiB: never counted')
  assert.is(budget.taken, 0)
  assert.ok(a.cover(600 * KB))
  assert.is(budget.taken, 600 * KB, 'a known length takes exactly what it needs')
  assert.not.ok(b.cover(500 * KB), 'no room left for another 500 kB')
  assert.ok(b.cover(400 * KB))
  a.release()
  a.release() // once only
  assert.is(budget.taken, 400 * KB)
  assert.ok(b.cover(1000 * KB, true), 'a growing body takes more as it comes')
  b.release()
  assert.is(budget.taken, 0)
  const declared = new FillHold(budget)
  assert.ok(declared.roomFor(500 * KB)(10), 'a declared length is taken whole at the first bytes')
  assert.is(budget.taken, 500 * KB)
  declared.release()
  assert.ok(new FillHold(undefined).cover(1e12), 'without a budget every size is covered')
})

/**
 * An upstream whose bodies of `bytes` start at once and finish when `finish()` is called: the fills in between all
 * hold their bodies at the same time.
 */
async function heldUpstream(bytes: number, chunked: boolean) {
  const open: Socket[] = []
  const framing = chunked ? 'transfer-encoding: chunked\r\n' : `content-length: ${bytes}\r\n`
  const part = (n: number) => (chunked ? `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n` : 'x'.repeat(n))
  upstream = await rawUpstream((s) => {
    s.write(headersOf(200, `cache-control: max-age=60\r\n${framing}`) + part(bytes / 2))
    open.push(s)
  })
  return {
    started: (n: number) => eventually(() => open.length === n),
    finish: () => {
      for (const s of open.splice(0)) s.end(part(bytes / 2) + (chunked ? '0\r\n\r\n' : ''))
    },
  }
}

test('declared lengths: the fills without room in the budget are answered unstored, detail=fill-memory', async () => {
  const held = await heldUpstream(400 * KB, false)
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream!.url}`, CACHECAR_FILL_MEMORY_BYTES: '1MiB' })
  const answers = ['/a', '/b', '/c'].map((path) => fetch(`${car!.url}/u/api${path}`))
  assert.ok(await held.started(3))
  // Fields leave before the bodies end: which fills found room is known now, while all three are held.
  const statuses = await Promise.all(answers.map(async (a) => (await a).headers.get('cache-status') ?? ''))
  const during = await (await fetch(`${car.url}/metrics`)).text()
  assert.match(during, `cachecar_memory_budget_bytes{budget="fill"} ${800 * KB}`, 'the two fills that fit, held')
  held.finish()
  for (const answer of answers) assert.is((await (await answer).text()).length, 400 * KB, 'every client gets it all')
  assert.is(statuses.filter((s) => s.endsWith('; stored')).length, 2, '2 × 400 kB fit in 1 MiB')
  assert.is(statuses.filter((s) => s.endsWith('detail=fill-memory')).length, 1, statuses.join(' | '))
  const metrics = await (await fetch(`${car.url}/metrics`)).text()
  assert.match(metrics, 'cachecar_proxy_events_total{upstream="api",event="fill-memory"} 1', 'counted, to alert on')
  assert.match(metrics, 'cachecar_memory_budget_bytes{budget="body"} 0', 'the request body budget beside it')
  const released = async () =>
    (await (await fetch(`${car!.url}/metrics`)).text()).includes('cachecar_memory_budget_bytes{budget="fill"} 0')
  assert.ok(await eventually(released), 'all given back once the fills are stored')
  // The room comes back once fills are done: a later miss is stored again.
  const later = fetch(`${car.url}/u/api/d`)
  assert.ok(await held.started(1))
  held.finish()
  assert.match((await later).headers.get('cache-status') ?? '', /; stored$/)
})

test('chunked bodies: a fill that cannot grow within the budget streams on unstored, detail=fill-memory', async () => {
  const held = await heldUpstream(600 * KB, true)
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream!.url}`, CACHECAR_FILL_MEMORY_BYTES: '2MiB' })
  const answers = ['/a', '/b', '/c'].map((path) => fetch(`${car!.url}/u/api${path}`))
  assert.ok(await held.started(3))
  // The fills that found room are read whole before answering; the one without room answers at once.
  const first = await Promise.race(answers)
  assert.is(first.headers.get('cache-status'), 'cachecar; fwd=uri-miss; fwd-status=200; detail=fill-memory')
  held.finish()
  const statuses = await Promise.all(answers.map(async (a) => (await a).headers.get('cache-status') ?? ''))
  for (const answer of answers) assert.is((await (await answer).text()).length, 600 * KB)
  assert.is(statuses.filter((s) => s.endsWith('; stored')).length, 2, statuses.join(' | '))
  assert.is(upstream!.connections(), 3)
  // The two stored are hits now; the one that had no room goes upstream again.
  const again = ['/a', '/b', '/c'].map((path) => car!.get(`/u/api${path}`))
  assert.ok(await held.started(1))
  held.finish()
  const sources = (await Promise.all(again)).map((r) => r.headers.get('cache-status')!.split('; ')[1])
  assert.equal(sources.sort(), ['fwd=uri-miss', 'hit', 'hit'])
  assert.is(upstream!.connections(), 4)
})

test.run()
