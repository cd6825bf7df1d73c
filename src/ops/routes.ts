// Operational endpoints: liveness, readiness and Prometheus metrics. Open without a token: they reveal no data.
import { Hono } from 'hono'
import { Problem } from '../http/problem.ts'
import type { Store } from '../store/types.ts'
import type { Metrics } from './metrics.ts'

export interface OpsDeps {
  readonly store: Store
  readonly metrics: Metrics
  /** False once shutdown began, so the load balancer or health check stops sending work. */
  readonly accepting: () => boolean
  /** The shared tier's state: reported, never a reason to be unready (cachecar degrades to its local store). */
  readonly shared?: () => { url: string; up: boolean; connected: boolean; circuitOpenMs: number }
}

export function opsRoutes({ store, metrics, accepting, shared }: OpsDeps): Hono {
  const app = new Hono()

  app.get('/healthz', function healthz(c) {
    return c.json({ status: 'ok' })
  })

  app.get('/readyz', async function readyz(c) {
    if (!accepting()) {
      throw new Problem({
        kind: 'shutting-down',
        status: 503,
        title: 'Shutting down',
        detail: 'cachecar is draining and takes no new work',
        headers: { 'retry-after': '1' },
      })
    }
    try {
      await store.ping()
    } catch (error) {
      throw new Problem(
        {
          kind: 'store-unavailable',
          status: 503,
          title: 'Store unavailable',
          detail: `the store failed a read/write check: ${(error as Error).message}`,
          headers: { 'retry-after': '1' },
        },
        { cause: error },
      )
    }
    if (!shared) return c.json({ status: 'ready' })
    const state = shared()
    return c.json({ status: 'ready', shared: { state: state.up ? 'up' : 'down', ...state } })
  })

  app.get('/metrics', async function prometheus(c) {
    return c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType })
  })

  return app
}
