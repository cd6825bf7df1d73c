// Heavy work (slices of large bodies) waits while the event loop is busy, so small requests beside it find the loop
// free; it never waits longer than its bound, and every kind of large-body work asks for its turn.
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HEAVY_WORK_DEFAULTS, HeavyWork, heavyWork } from '../../src/heavy-work.ts'
import { startCachecar } from '../helpers/cachecar.ts'
import { tempDir } from '../helpers/tmp.ts'

/** A loop whose turns take `lags` ms in turn (the last one repeats), on a clock that sleeping advances too. */
function fakeLoop(lags: number[]) {
  let clock = 0
  const slept: number[] = []
  const work = new HeavyWork({
    ...HEAVY_WORK_DEFAULTS,
    now: () => clock,
    nextTurn: async () => {
      clock += lags.length > 1 ? lags.shift()! : lags[0]!
    },
    sleep: async (ms) => {
      slept.push(ms)
      clock += ms
    },
  })
  return { work, slept }
}

test('on a quiet loop a turn comes at the next turn of the loop', async () => {
  const { work, slept } = fakeLoop([0.2])
  await work.turn()
  assert.equal(slept, [])
})

test('on a congested loop a turn pauses, a pause at a time, until turns come on time', async () => {
  const { work, slept } = fakeLoop([9, 5, 3, 1])
  await work.turn()
  assert.equal(slept, [2, 2, 2])
})

test('a turn waits at most maxWaitMs however congested the loop stays', async () => {
  const { work, slept } = fakeLoop([8])
  await work.turn()
  assert.ok(slept.length >= 1 && slept.length * 10 <= HEAVY_WORK_DEFAULTS.maxWaitMs, `paused ${slept.length} times`)
})

test('measured on the real event loop: turns pause while it is congested, not while heavy work has it alone', async () => {
  const work = new HeavyWork()
  const timeTurns = async () => {
    const started = performance.now()
    for (let i = 0; i < 20; i++) await work.turn()
    return performance.now() - started
  }
  const idle = await timeTurns()
  // Other work takes 3 ms of every turn of the loop (as a herd of small requests would).
  let burning = true
  const burn = () => {
    const until = performance.now() + 3
    while (performance.now() < until);
    if (burning) setImmediate(burn)
  }
  setImmediate(burn)
  try {
    const busy = await timeTurns()
    assert.ok(idle < 20, `20 turns on an idle loop took ${idle.toFixed(1)} ms`)
    assert.ok(
      busy > 20 * (3 + HEAVY_WORK_DEFAULTS.pauseMs),
      `20 turns on a congested loop took ${busy.toFixed(1)} ms (idle: ${idle.toFixed(1)} ms)`,
    )
  } finally {
    burning = false
  }
})

test('every kind of large-body work takes turns: upload, hashing, large GET, bulk answer', async () => {
  const dir = tempDir()
  const car = await startCachecar({
    CACHECAR_DB_PATH: join(dir.path, 'cachecar.db'),
    CACHECAR_MAX_BYTES: '64MiB',
    CACHECAR_MEMORY_BYTES: '0',
  })
  const counted = { turns: 0 }
  const original = heavyWork.turn.bind(heavyWork)
  heavyWork.turn = () => {
    counted.turns++
    return original()
  }
  try {
    const count = async (work: () => Promise<unknown>) => {
      counted.turns = 0
      await work()
      return counted.turns
    }
    const value = Buffer.alloc(1024 ** 2, 'a')
    const put = await count(async () =>
      assert.is((await fetch(`${car.url}/v1/kv/app/big`, { method: 'PUT', body: value })).status, 201),
    )
    assert.ok(put >= 18, `a 1 MiB PUT (taken in a turn per 256 KiB, hashed a turn per 64 KiB) took ${put} turns`)
    const get = await count(async () =>
      assert.is((await (await fetch(`${car.url}/v1/kv/app/big`)).arrayBuffer()).byteLength, 1024 ** 2),
    )
    // Sixteen 64 KiB slices: the first leaves at once, and a turn comes before each of the other fifteen.
    assert.ok(get >= 15, `a 1 MiB GET (sent in 64 KiB slices) took ${get} turns`)
    const bulk = await count(async () => {
      const response = await fetch(`${car.url}/v1/kv/app/_bulk`, {
        method: 'POST',
        body: JSON.stringify({ get: ['big'] }),
        headers: { 'content-type': 'application/json' },
      })
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
