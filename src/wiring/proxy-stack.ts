// The read-through proxy's parts: upstream pools, the response cache, flights and the Node listener for /u/<name>/….
// server.ts imports this module only when upstreams are configured, so a cachecar without upstreams never loads
// undici (about 7 MB of an idle process).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createFlights } from '../http-cache/proxy/flights.ts'
import { type ProblemFor, proxyListener } from '../http-cache/proxy/listener.ts'
import type { ProxyDeps } from '../http-cache/proxy/proxy.ts'
import { Upstream } from '../http-cache/proxy/upstream.ts'
import { ResponseCache } from '../http-cache/response-cache.ts'
import type { Config } from '../config.ts'
import { BodyBudget } from '../http/body-budget.ts'
import type { Logger } from '../ops/logger.ts'
import { labelledOnce, type Metrics } from '../ops/metrics.ts'
import type { RecordRequest } from '../ops/request-metrics.ts'
import type { Store } from '../store/types.ts'

export interface ProxyStack {
  readonly deps: ProxyDeps
  /** Answers /u/<name>/… requests (true), or leaves the request to the API (false). */
  listener(record: RecordRequest, problemFor: ProblemFor): (req: IncomingMessage, res: ServerResponse) => boolean
  /** Closes the upstream pools. */
  close(): Promise<void>
}

export function createProxyStack(
  config: Config,
  store: Store,
  metrics: Metrics,
  logger: Logger,
  now: () => number,
): ProxyStack {
  const upstreams = new Map(config.upstreams.map((u) => [u.name, new Upstream(u)]))
  const fillMemory = new BodyBudget(config.fillMemoryBytes)
  metrics.watchBudget('fill', () => fillMemory.taken)
  const proxyEvent = labelledOnce((upstream, event) => metrics.proxyEvents.labels(upstream, event))
  const upstreamTimer = labelledOnce((upstream) => metrics.upstreamDuration.labels(upstream))
  const deps: ProxyDeps = {
    upstreams,
    cache: new ResponseCache(store, now),
    flights: createFlights(),
    now,
    logger,
    onEvent: (upstream, event) => proxyEvent(upstream, event).inc(),
    onUpstreamTiming: (upstream, seconds) => upstreamTimer(upstream).observe(seconds),
    fillMemory,
  }
  return {
    deps,
    listener: (record, problemFor) => proxyListener(deps, record, problemFor),
    close: async () => {
      await Promise.all([...upstreams.values()].map((u) => u.close()))
    },
  }
}
