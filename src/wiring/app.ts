// createApp(deps): mounts the route modules behind auth and metrics, with one error handler and one notFound.
// The /u/<name>/… proxy is served beside it, straight from Node (src/http-cache/proxy/listener.ts).
import { Hono } from 'hono'
import { routePath } from 'hono/route'
import type { Config } from '../config.ts'
import { bearerAuth } from '../http/auth.ts'
import { rejectAmbiguousFraming } from '../http/framing.ts'
import { allowedMethods } from '../http/allowed-methods.ts'
import { errorProblem } from './error-problems.ts'
import { problemResponse } from '../http/problem.ts'
import { collectionRoutes } from '../kv/collection.ts'
import type { KvDeps } from '../kv/read.ts'
import { keyRoutes } from '../kv/routes.ts'
import type { Logger } from '../ops/logger.ts'
import { labelledOnce, type Metrics } from '../ops/metrics.ts'
import { requestRecorder } from '../ops/request-metrics.ts'
import { opsRoutes, type OpsDeps } from '../ops/routes.ts'
import type { ProxyDeps } from '../http-cache/proxy/proxy.ts'
import { purgeRoutes } from '../http-cache/purge.ts'
import { sessionRoutes } from '../sessions/routes.ts'
import { Sessions } from '../sessions/sessions.ts'
import type { Store } from '../store/types.ts'

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
  /** The key/value and session dependencies, when the hot path (hot-routes.ts) shares them; made here otherwise. */
  readonly parts?: ApiParts
}

/** What the Hono routes and the hot path (hot-routes.ts) share: one Sessions, one set of key/value dependencies. */
export interface ApiParts {
  readonly kv: KvDeps
  readonly sessions: Sessions
}

export function apiParts({
  config,
  store,
  metrics,
  now = Date.now,
}: Pick<AppDeps, 'config' | 'store' | 'metrics' | 'now'>): ApiParts {
  const lookups = labelledOnce((result) => metrics.kvLookups.labels(result))
  const kv: KvDeps = {
    store,
    now,
    limits: config,
    onLookup: (hit) => lookups(hit ? 'hit' : 'miss').inc(),
  }
  const sessions = new Sessions(
    store,
    {
      idleTtlMs: config.sessionIdleTtlMs,
      absoluteTtlMs: config.sessionAbsoluteTtlMs,
      maxBytes: config.sessionMaxBytes,
      touchFraction: config.sessionTouchFraction,
    },
    now,
  )
  return { kv, sessions }
}

export function createApp({
  config,
  store,
  metrics,
  logger,
  now = Date.now,
  accepting = () => true,
  proxy,
  shared,
  parts = apiParts({ config, store, metrics, now }),
}: AppDeps): Hono {
  const app = new Hono()

  const record = requestRecorder(metrics, logger)
  app.use(async function recordRequest(c, next) {
    const started = performance.now()
    await next()
    const matched = routePath(c)
    record(c.req.method, matched === '/*' ? 'unmatched' : matched, c.res.status, (performance.now() - started) / 1000)
  })

  app.use(rejectAmbiguousFraming)
  if (config.token) app.use('/v1/*', bearerAuth(config.token))

  const { kv, sessions } = parts
  if (proxy)
    app.route(
      '/',
      purgeRoutes({
        cache: proxy.cache,
        upstreamNames: new Set(proxy.upstreams.keys()),
        maxBodyBytes: config.maxBulkBytes,
        maxJsonDepth: config.maxJsonDepth,
      }),
    )
  app.route(
    '/v1/sessions',
    sessionRoutes({ sessions, maxBytes: config.sessionMaxBytes, maxJsonDepth: config.maxJsonDepth }),
  )
  app.route('/v1/kv', collectionRoutes(kv))
  app.route('/v1/kv', keyRoutes(kv))
  app.route('/', opsRoutes({ store, metrics, accepting, ...(shared && { shared }) }))

  const allowed = allowedMethods(app.routes)
  app.notFound(function notFound(c) {
    const methods = allowed(c.req.path)
    if (methods.length > 0) {
      return problemResponse({
        kind: 'method-not-allowed',
        status: 405,
        title: 'Method not allowed',
        detail: `${c.req.method} is not served for ${c.req.path}; allowed: ${methods.join(', ')}`,
        headers: { allow: methods.join(', ') },
      })
    }
    return problemResponse({
      kind: 'not-found',
      status: 404,
      title: 'Not found',
      detail: `no route for ${c.req.method} ${c.req.path}`,
    })
  })

  app.onError((error, c) =>
    problemResponse(errorProblem(error, { method: c.req.method, path: c.req.path }, metrics, logger)),
  )

  return app
}
