// Counts and times every answered request by method, route pattern and status, for Hono routes and the proxy alike.
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'

export type RecordRequest = (method: string, route: string, status: number, seconds: number) => void

export function requestRecorder(metrics: Metrics, logger: Logger): RecordRequest {
  // Labelled children are cached: prom-client hashes label objects on every call, measurably on a hot path.
  const counters = new Map<string, { inc(): void }>()
  const timers = new Map<string, { observe(seconds: number): void }>()
  return (method, route, status, seconds) => {
    const timerKey = `${method} ${route}`
    let timer = timers.get(timerKey)
    if (!timer) timers.set(timerKey, timer = metrics.requestDuration.labels(method, route))
    timer.observe(seconds)
    const counterKey = `${timerKey} ${status}`
    let counter = counters.get(counterKey)
    if (!counter) counters.set(counterKey, counter = metrics.requests.labels(method, route, String(status)))
    counter.inc()
    if (logger.isLevelEnabled('debug')) logger.debug({ event: 'request', method, route, status, ms: seconds * 1000 })
  }
}
