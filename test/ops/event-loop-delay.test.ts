// The event-loop delay histogram: how late each 10 ms timer fired, cumulative so any window's p99 can be read.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { sampleEventLoopDelay, type SamplerClock } from '../../src/ops/event-loop-delay.ts'
import { startCachecar } from '../helpers/cachecar.ts'
import { eventually } from '../helpers/raw-upstream.ts'

/** A timer driven by hand: `fireAt(t)` runs the tick as if the loop got to it at time t. */
function manualTimer(): SamplerClock & { fireAt(t: number): void; stopped: boolean } {
  let now = 0
  let tick: (() => void) | undefined
  const timer = {
    stopped: false,
    now: () => now,
    every(_ms: number, run: () => void) {
      tick = run
      return () => {
        timer.stopped = true
      }
    },
    fireAt(t: number) {
      now = t
      tick?.()
    },
  }
  return timer
}

test('each sample is how late the timer fired, measured from when it was due', () => {
  const seen: number[] = []
  const timer = manualTimer()
  const stop = sampleEventLoopDelay({ observe: (s) => seen.push(Math.round(s * 1000)) }, 10, timer)
  timer.fireAt(10) // on time
  timer.fireAt(21) // 1 ms late
  timer.fireAt(121) // the loop was busy for 90 ms past the due time (31)
  timer.fireAt(131) // due 10 ms after the late tick ran, not on the original grid: one stall is counted once
  assert.equal(seen, [0, 1, 90, 0])
  stop()
  assert.ok(timer.stopped)
})

test('a running cachecar samples its own loop into cachecar_event_loop_delay_seconds at /metrics', async () => {
  const car = await startCachecar({})
  try {
    const count = async () =>
      Number(
        /^cachecar_event_loop_delay_seconds_count (\d+)/m.exec(await (await fetch(`${car.url}/metrics`)).text())?.[1] ??
          0,
      )
    assert.ok(await eventually(async () => (await count()) >= 3), 'samples accumulate while the loop runs')
    const text = await (await fetch(`${car.url}/metrics`)).text()
    assert.match(text, 'cachecar_event_loop_delay_seconds_bucket{le="0.05"}')
  } finally {
    await car.shutdown()
  }
})

test.run()
