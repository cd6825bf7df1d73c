// Samples event-loop delay into a cumulative histogram, so a percentile can be read over any window.
// prom-client's nodejs_eventloop_lag_p99_seconds is reset at every scrape: it tells the last interval only, and
// percentiles of percentiles do not add up. Bucket counts do: rate() over them gives a p99 for any period.

export interface DelayHistogram {
  observe(seconds: number): void
}

export interface SamplerClock {
  now(): number
  /** Calls `tick` every `ms` (an unref'd interval in production); returns a function that stops it. */
  every(ms: number, tick: () => void): () => void
}

const realClock: SamplerClock = {
  now: () => performance.now(),
  every(ms, tick) {
    const timer = setInterval(tick, ms)
    timer.unref()
    return () => clearInterval(timer)
  },
}

/**
 * Every `resolutionMs` a timer is due; how late it fires is the time the loop was busy with something else.
 * (perf_hooks.monitorEventLoopDelay records the whole interval, the period included: an idle loop reads 10 ms.)
 * Returns a function that stops sampling.
 */
export function sampleEventLoopDelay(
  histogram: DelayHistogram,
  resolutionMs = 10,
  clock: SamplerClock = realClock,
): () => void {
  let expected = clock.now() + resolutionMs
  return clock.every(resolutionMs, () => {
    const now = clock.now()
    histogram.observe(Math.max(0, now - expected) / 1000)
    expected = now + resolutionMs
  })
}
