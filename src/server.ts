// Wires config → store → sweeper → app → HTTP server, and drains them in order on shutdown.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createApp } from './app.ts'
import type { Config } from './config.ts'
import type { Logger } from './ops/logger.ts'
import { createMetrics } from './ops/metrics.ts'
import { createFlights } from './http-cache/fill.ts'
import { ResponseCache } from './http-cache/response-cache.ts'
import { Upstream } from './http-cache/upstream.ts'
import { HotTier } from './store/hot-tier.ts'
import { SESSION_NAMESPACE } from './sessions/sessions.ts'
import { SqliteStore, type SqliteStoreOptions } from './store/sqlite-store.ts'
import { Sweeper } from './store/sweeper.ts'
import type { Store } from './store/types.ts'

export interface Running {
  readonly url: string
  readonly port: number
  readonly store: Store
  readonly sweeper: Sweeper
  /** Stops accepting, lets in-flight requests finish within the grace period, closes the store. */
  readonly shutdown: () => Promise<{ forced: boolean }>
}

export interface StartOptions {
  readonly now?: () => number
  /** Store settings no deployment should change; tests use them to provoke lock contention and a full disk. */
  readonly sqlite?: Pick<SqliteStoreOptions, 'lockingMode' | 'retry' | 'maxPages'>
}

export async function start(config: Config, logger: Logger, options: StartOptions = {}): Promise<Running> {
  let store: Store | undefined
  const metrics = createMetrics(() => store)
  const sqlite = new SqliteStore({
    path: config.dbPath,
    maxBytes: config.maxBytes,
    ...(options.now && { now: options.now }),
    ...options.sqlite,
    events: {
      evicted: (reason, rows) => metrics.evictions.inc({ reason }, rows),
      busyRetry: () => metrics.busyRetries.inc(),
      maintenanceFailed: (error) => logger.warn({ event: 'maintenance_failed', err: error }, 'eviction or vacuum failed; retrying next pass'),
    },
  })
  store = config.memoryBytes > 0
    ? new HotTier(sqlite, {
      maxBytes: config.memoryBytes, maxEntryBytes: Math.min(1024 ** 2, config.memoryBytes / 16),
      secretKeys: new Set([SESSION_NAMESPACE]), ...(options.now && { now: options.now }),
    })
    : sqlite
  const sweeper = new Sweeper({
    store,
    intervalMs: config.sweepIntervalMs,
    onSweep: ({ removed, durationMs }) => {
      metrics.sweptRows.inc(removed)
      metrics.sweepDuration.observe(durationMs / 1000)
      if (removed > 0) logger.debug({ event: 'sweep', removed, ms: Math.round(durationMs) })
    },
    onError: (error) => logger.warn({ event: 'sweep_failed', err: error }, 'sweep failed; retrying next interval'),
  })

  const now = options.now ?? Date.now
  const upstreams = new Map(config.upstreams.map((u) => [u.name, new Upstream(u)]))
  const proxy = upstreams.size === 0 ? undefined : {
    upstreams, cache: new ResponseCache(store, now), flights: createFlights(), now, logger,
    onEvent: (upstream: string, event: string) => metrics.proxyEvents.inc({ upstream, event }),
    onUpstreamTiming: (upstream: string, seconds: number) => metrics.upstreamDuration.observe({ upstream }, seconds),
  }
  let accepting = true
  const app = createApp({ config, store, metrics, logger, now, accepting: () => accepting, ...(proxy && { proxy }) })
  const server = await listen(app.fetch, config)
  sweeper.start()
  const port = (server.address() as AddressInfo).port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  logger.info({
    event: 'listening', host: config.host, port, dbPath: config.dbPath, maxBytes: config.maxBytes, auth: config.token !== undefined,
    upstreams: config.upstreams.map((u) => `${u.name}=${u.origin}${u.basePath}`),
  }, 'cachecar is ready')

  const openStore = store
  let shuttingDown: Promise<{ forced: boolean }> | undefined
  async function shutdown(): Promise<{ forced: boolean }> {
    accepting = false
    const forced = await drain(server, config.shutdownGraceMs)
    await sweeper.stop()
    await Promise.all([...upstreams.values()].map((u) => u.close()))
    await openStore.close()
    logger.info({ event: 'stopped', forced }, forced ? 'grace period over: open connections were cut' : 'drained cleanly')
    return { forced }
  }
  return {
    url: `http://${host}:${port}`, port, store, sweeper,
    shutdown: () => (shuttingDown ??= shutdown()),
  }
}

function listen(fetch: Parameters<typeof serve>[0]['fetch'], config: Config): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({
      fetch,
      port: config.port,
      // @hono/node-server binds every interface (::) unless told otherwise.
      hostname: config.host,
      serverOptions: {
        maxHeaderSize: config.maxHeaderBytes,
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        keepAliveTimeout: config.keepAliveTimeoutMs,
        // Node enforces the timeouts above only when it checks, every 30 s by default: check often enough.
        connectionsCheckingInterval: Math.min(1000, Math.max(50, config.headersTimeoutMs / 4)),
      },
    }, () => resolve(server as Server)) as Server
    server.once('error', reject)
  })
}

/** Closes the listener, then idle keep-alive sockets as requests finish; true if the grace period ran out. */
function drain(server: Server, graceMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sweepIdle = setInterval(() => server.closeIdleConnections(), 25)
    const deadline = setTimeout(() => {
      clearInterval(sweepIdle)
      server.closeAllConnections()
      resolve(true)
    }, graceMs)
    server.close(() => {
      clearInterval(sweepIdle)
      clearTimeout(deadline)
      resolve(false)
    })
    server.closeIdleConnections()
  })
}
