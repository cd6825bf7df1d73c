// Heavy work (slices of large bodies) waits while the event loop is busy, so small requests beside it find the loop
// free; it never waits longer than its bound, and every kind of large-body work asks for its turn.
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HEAVY_WORK_DEFAULTS, HeavyWork, heavyWork } from '../src/heavy-work.ts'
import { startCachecar } from './helpers/cachecar.ts'
import { tempDir } from './helpers/tmp.ts'

function fakeLoop(shares: number[]) {
  let clock = 0
  const slept: number[] = []
  const work = new HeavyWork({
    ...HEAVY_WORK_DEFAULTS,
    utilization: () => ({ share: shares.length > 1 ? shares.shift()! : shares[0]!, ms: 20 }),
    sleep: async (ms) => { slept.push(ms); clock += ms },
    now: () => clock,
  })
  return { work, slept }
}

test('on an idle loop a turn comes at once', async () => {
  const { work, slept } = fakeLoop([0.1])
  await work.turn()
  assert.equal(slept, [])
})

test('on a busy loop a turn waits, a pause at a time, until the loop has room', async () => {
  const { work, slept } = fakeLoop([0.9, 0.8, 0.6, 0.3])
  await work.turn()
  assert.equal(slept, [2, 2, 2])
})

test('a turn waits at most maxWaitMs however busy the loop stays', async () => {
  const { work, slept } = fakeLoop([1])
  await work.turn()
  assert.is(slept.reduce((a, b) => a + b, 0), HEAVY_WORK_DEFAULTS.maxWaitMs)
})

test('measured on the real event loop: turns wait while it is kept busy, not while it is idle', async () => {
  const work = new HeavyWork()
  const timeTurns = async () => {
    const started = performance.now()
    for (let i = 0; i < 20; i++) await work.turn()
    return performance.now() - started
  }
  const idle = await timeTurns()
  // Burn 9 ms of every 10: the loop is 90 % busy.
  const burner = setInterval(() => { const until = performance.now() + 9; while (performance.now() < until); }, 10)
  try {
    await new Promise((resolve) => setTimeout(resolve, 50)) // the busy stretch fills the measuring window
    const busy = await timeTurns()
    assert.ok(idle < 20, `20 turns on an idle loop took ${idle.toFixed(1)} ms`)
    assert.ok(busy > 5 * idle + 40, `20 turns on a busy loop took ${busy.toFixed(1)} ms (idle: ${idle.toFixed(1)} ms)`)
  } finally {
    clearInterval(burner)
  }
})

test('every kind of large-body work takes turns: upload, hashing, large GET, bulk answer', async () => {
  const dir = tempDir()
  const car = await startCachecar({ CACHECAR_DB_PATH: join(dir.path, 'cachecar.db'), CACHECAR_MAX_BYTES: '64MiB', CACHECAR_MEMORY_BYTES: '0' })
  const counted = { turns: 0 }
  const original = heavyWork.turn.bind(heavyWork)
  heavyWork.turn = () => { counted.turns++; return original() }
  try {
    const count = async (work: () => Promise<unknown>) => {
      counted.turns = 0
      await work()
      return counted.turns
    }
    const value = Buffer.alloc(1024 ** 2, 'a')
    const put = await count(async () => assert.is((await fetch(`${car.url}/v1/kv/app/big`, { method: 'PUT', body: value })).status, 201))
    assert.ok(put >= 30, `a 1 MiB PUT (taken in and hashed in 64 KiB slices) took ${put} turns`)
    const get = await count(async () => assert.is((await (await fetch(`${car.url}/v1/kv/app/big`)).arrayBuffer()).byteLength, 1024 ** 2))
    assert.ok(get >= 16, `a 1 MiB GET (sent in 64 KiB slices) took ${get} turns`)
    const bulk = await count(async () => {
      const response = await fetch(`${car.url}/v1/kv/app/_bulk`, { method: 'POST', body: JSON.stringify({ get: ['big'] }), headers: { 'content-type': 'application/json' } })
      await response.arrayBuffer()
    })
    assert.ok(bulk >= 16, `a 1 MiB bulk answer took ${bulk} turns`)
  } finally {
    heavyWork.turn = original
    await car.shutdown()
    dir.remove()
  }
})

test.run()
