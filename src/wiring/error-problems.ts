// What an error thrown while answering becomes: the problem the client gets, counted and logged once.
import type { Logger } from '../ops/logger.ts'
import type { Metrics } from '../ops/metrics.ts'
import { SharedTierUnavailableError, StoreBusyError, StoreFullError } from '../store/types.ts'
import { Problem, type ProblemInit } from '../http/problem.ts'

export function errorProblem(
  error: unknown,
  request: { method: string; path: string },
  metrics: Metrics,
  logger: Logger,
): ProblemInit {
  if (error instanceof Problem) return error.init
  if (error instanceof StoreFullError) {
    metrics.storeErrors.labels('full').inc()
    logger.warn({ event: 'store_full', err: error.message }, 'write refused: no room even after eviction')
    return {
      kind: 'insufficient-storage',
      status: 507,
      title: 'Insufficient storage',
      detail: 'the cache has no room for this write even after eviction',
    }
  }
  if (error instanceof StoreBusyError) {
    metrics.storeErrors.labels('busy').inc()
    logger.warn({ event: 'store_busy', err: error.message }, 'write refused: database stayed locked')
    return {
      kind: 'store-busy',
      status: 503,
      title: 'Store busy',
      detail: 'the cache database stayed locked; retry shortly',
      headers: { 'retry-after': '1' },
    }
  }
  if (error instanceof SharedTierUnavailableError) {
    // Only authoritative data (sessions) fails closed; near-cached reads and writes degrade instead.
    metrics.storeErrors.labels('shared-unavailable').inc()
    return {
      kind: 'shared-tier-unavailable',
      status: 503,
      title: 'Shared tier unavailable',
      detail: 'sessions live in the shared tier (Valkey/Redis), which is not answering; retry shortly',
      headers: { 'retry-after': '1' },
    }
  }
  logger.error(
    { event: 'unhandled_error', err: error, method: request.method, path: loggablePath(request.path) },
    'request failed',
  )
  return {
    kind: 'internal',
    status: 500,
    title: 'Internal error',
    detail: 'cachecar failed to handle this request; see its logs',
  }
}

/** A path as logs may show it: a session ID is a bearer credential, so session routes are logged by their route. */
export function loggablePath(path: string): string {
  return path.startsWith('/v1/sessions/') ? path.replace(/^\/v1\/sessions\/[^/?]+/, '/v1/sessions/:id') : path
}
