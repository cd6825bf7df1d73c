// createApp(deps): mounts the route modules behind auth and metrics, with one error handler and one notFound.
import type { ServerResponse } from 'node:http'
import { Hono } from 'hono'
import { routePath } from 'hono/route'
import type { Config } from './config.ts'
import { bearerAuth } from './http/auth.ts'
import { rejectAmbiguousFraming } from './http/framing.ts'
import { Problem, problemResponse } from './http/problem.ts'
import { collectionRoutes } from './kv/collection.ts'
import { keyRoutes, type KvDeps } from './kv/routes.ts'
import type { Logger } from './ops/logger.ts'
import type { Metrics } from './ops/metrics.ts'
import { opsRoutes, type OpsDeps } from './ops/routes.ts'
import { proxyRoutes, type ProxyDeps } from './http-cache/proxy.ts'
import { purgeRoutes } from './http-cache/purge.ts'
import { sessionRoutes } from './sessions/routes.ts'
import { Sessions } from './sessions/sessions.ts'
import { SharedTierUnavailableError } from './store/shared-tier.ts'
import { StoreBusyError, StoreFullError, type Store } from './store/types.ts'

export interface AppDeps {
  readonly config: Config
  readonly store: Store
  readonly metrics: Metrics
  readonly logger: Logger
  readonly now?: () => number
  readonly accepting?: () => boolean
  /** The read-through cache for configured upstreams; absent when none are configured. */
  readonly proxy?: ProxyDeps
  /** The shared tier's state, reported by /readyz; absent when none is configured. */
  readonly shared?: OpsDeps['shared']
}

export function createApp({ config, store, metrics, logger, now = Date.now, accepting = () => true, proxy, shared }: AppDeps): Hono {
  const app = new Hono()

  // Labelled children are cached: prom-client hashes label objects on every call, measurably on a hot path.
  const requestCounters = new Map<string, { inc(): void }>()
  const requestTimers = new Map<string, { observe(seconds: number): void }>()
  app.use(async function recordRequest(c, next) {
    const started = performance.now()
    await next()
    const matched = routePath(c)
    const route = matched === '/*' ? 'unmatched' : matched
    const method = c.req.method
    // Streamed proxy responses are written to the Node response directly: its status is the one sent.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
    const status = outgoing?.headersSent ? outgoing.statusCode : c.res.status
    const seconds = (performance.now() - started) / 1000
    const timerKey = `${method} ${route}`
    let timer = requestTimers.get(timerKey)
    if (!timer) requestTimers.set(timerKey, timer = metrics.requestDuration.labels(method, route))
    timer.observe(seconds)
    const counterKey = `${timerKey} ${status}`
    let counter = requestCounters.get(counterKey)
    if (!counter) requestCounters.set(counterKey, counter = metrics.requests.labels(method, route, String(status)))
    counter.inc()
    if (logger.isLevelEnabled('debug')) logger.debug({ event: 'request', method, route, status, ms: seconds * 1000 })
  })

  app.use(rejectAmbiguousFraming)
  if (config.token) app.use('/v1/*', bearerAuth(config.token))

  const kv: KvDeps = {
    store, now, limits: config,
    onLookup: (hit) => metrics.kvLookups.inc({ result: hit ? 'hit' : 'miss' }),
  }
  if (proxy) app.route('/', purgeRoutes({ cache: proxy.cache, upstreamNames: new Set(proxy.upstreams.keys()), maxBodyBytes: config.maxBulkBytes }))
  const sessions = new Sessions(store, {
    idleTtlMs: config.sessionIdleTtlMs, absoluteTtlMs: config.sessionAbsoluteTtlMs,
    maxBytes: config.sessionMaxBytes, touchFraction: config.sessionTouchFraction,
  }, now)
  app.route('/v1/sessions', sessionRoutes({ sessions, maxBytes: config.sessionMaxBytes }))
  app.route('/v1/kv', collectionRoutes(kv))
  app.route('/v1/kv', keyRoutes(kv))
  app.route('/', opsRoutes({ store, metrics, accepting, ...(shared && { shared }) }))
  if (proxy) app.route('/', proxyRoutes(proxy))

  app.notFound(function notFound(c) {
    return problemResponse({ kind: 'not-found', status: 404, title: 'Not found', detail: `no route for ${c.req.method} ${c.req.path}` })
  })

  app.onError(function onError(error, c) {
    if (error instanceof Problem) return problemResponse(error.init)
    if (error instanceof StoreFullError) {
      metrics.storeErrors.inc({ kind: 'full' })
      logger.warn({ event: 'store_full', err: error.message }, 'write refused: no room even after eviction')
      return problemResponse({ kind: 'insufficient-storage', status: 507, title: 'Insufficient storage', detail: 'the cache has no room for this write even after eviction' })
    }
    if (error instanceof StoreBusyError) {
      metrics.storeErrors.inc({ kind: 'busy' })
      logger.warn({ event: 'store_busy', err: error.message }, 'write refused: database stayed locked')
      return problemResponse({ kind: 'store-busy', status: 503, title: 'Store busy', detail: 'the cache database stayed locked; retry shortly', headers: { 'retry-after': '1' } })
    }
    if (error instanceof SharedTierUnavailableError) {
      // Only authoritative data (sessions) fails closed; near-cached reads and writes degrade instead.
      metrics.storeErrors.inc({ kind: 'shared-unavailable' })
      return problemResponse({
        kind: 'shared-tier-unavailable', status: 503, title: 'Shared tier unavailable',
        detail: 'sessions live in the shared tier (Valkey/Redis), which is not answering; retry shortly', headers: { 'retry-after': '1' },
      })
    }
    logger.error({ event: 'unhandled_error', err: error, method: c.req.method, path: c.req.path }, 'request failed')
    return problemResponse({ kind: 'internal', status: 500, title: 'Internal error', detail: 'cachecar failed to handle this request; see its logs' })
  })

  return app
}
