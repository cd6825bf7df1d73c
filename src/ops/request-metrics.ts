// Counts and times every answered request by method, route pattern and status, for Hono routes and the proxy alike.
import type { Logger } from './logger.ts'
import { labelledOnce, type Metrics } from './metrics.ts'

export type RecordRequest = (method: string, route: string, status: number, seconds: number) => void

export function requestRecorder(metrics: Metrics, logger: Logger): RecordRequest {
  const timer = labelledOnce((method, route) => metrics.requestDuration.labels(method, route))
  const counter = labelledOnce((method, route, status) => metrics.requests.labels(method, route, status))
  return (method, route, status, seconds) => {
    timer(method, route).observe(seconds)
    counter(method, route, String(status)).inc()
    if (logger.isLevelEnabled('debug')) logger.debug({ event: 'request', method, route, status, ms: seconds * 1000 })
  }
}
