// Prometheus metrics for one cachecar instance, on their own registry so tests can run many side by side.
import type { Store, StoreStats } from '../store/types.ts'
import { registerProcessMetrics } from './process-metrics.ts'
import { Counter, type Exposable, Gauge, Histogram, Registry } from './prometheus.ts'

export interface Metrics {
  readonly registry: Registry
  readonly requests: Counter
  readonly requestDuration: Histogram
  readonly kvLookups: Counter
  readonly evictions: Counter
  readonly sweptRows: Counter
  readonly sweepDuration: Histogram
  readonly busyRetries: Counter
  readonly storeErrors: Counter
  readonly proxyEvents: Counter
  readonly upstreamDuration: Histogram
  readonly sharedUp: Gauge
  readonly sharedErrors: Counter
  readonly tierReads: Counter
  readonly sharedCoalesce: Counter
  readonly sharedDegraded: Counter
  readonly invalidationsReceived: Counter
  readonly connectionsDropped: Counter
  readonly eventLoopDelay: Histogram
  /** Reports the bytes held now of a memory budget (`body`, `fill`) as cachecar_memory_budget_bytes{budget}. */
  readonly watchBudget: (budget: string, held: () => number) => void
}

/**
 * `shared`: a shared tier is configured. Its families exist only then: cachecar_shared_up 0 on every task without
 * one would fire the alerts written for it.
 */
export function createMetrics(store: () => Store | undefined, { shared = false } = {}): Metrics {
  const registry = new Registry()
  const sharedOnly = <T extends Exposable>(metric: T): T => (shared ? registry.register(metric) : metric)
  // Process metrics include nodejs_eventloop_lag_* (event-loop delay percentiles).
  registerProcessMetrics(registry)
  // The store gauges of one scrape are collected together: they share one stats() (pragmas and file sizes), instead
  // of reading it once per gauge.
  let reading: Promise<StoreStats | undefined> | undefined
  const storeStats = () =>
    (reading ??= Promise.resolve(store()?.stats()).finally(() => {
      reading = undefined
    }))
  // One store figure per gauge, read at scrape time; a store that does not report a figure leaves its gauge at zero.
  const storeGauge = (name: string, help: string, pick: (stats: StoreStats) => number | undefined) => {
    const gauge: Gauge = registry.register(
      new Gauge({
        name,
        help,
        async collect() {
          const stats = await storeStats()
          const value = stats && pick(stats)
          if (value !== undefined) gauge.set(value)
        },
      }),
    )
  }
  storeGauge(
    'cachecar_store_entries',
    'Entries in the store, expired ones not yet swept included',
    (stats) => stats.entries,
  )
  storeGauge(
    'cachecar_store_bytes',
    'Bytes the store occupies on disk (database + WAL + shm + value files)',
    (stats) => stats.bytes,
  )
  storeGauge(
    'cachecar_store_data_bytes',
    'Bytes the cached entries use (pages in use and value files; eviction keeps this within the budget)',
    (stats) => stats.dataBytes,
  )
  storeGauge(
    'cachecar_store_wal_bytes',
    "Bytes of SQLite's write-ahead log, part of cachecar_store_bytes",
    (stats) => stats.walBytes,
  )
  // Each budget's holding is read at scrape time from the function its owner registered.
  const budgets = new Map<string, () => number>()
  const budgetHeld: Gauge = registry.register(
    new Gauge({
      name: 'cachecar_memory_budget_bytes',
      help: 'Bytes held now of each memory budget: body (request bodies read whole), fill (upstream bodies being collected for the cache)',
      labelNames: ['budget'],
      collect() {
        for (const [budget, held] of budgets) budgetHeld.labels(budget).set(held())
      },
    }),
  )
  return {
    registry,
    watchBudget: (budget, held) => {
      budgets.set(budget, held)
    },
    // The metrics every request touches are lean (lean-metrics.ts says why).
    requests: registry.register(
      new Counter({
        name: 'cachecar_http_requests_total',
        help: 'HTTP requests by route and status',
        labelNames: ['method', 'route', 'status'],
      }),
    ),
    requestDuration: registry.register(
      new Histogram({
        name: 'cachecar_http_request_duration_seconds',
        help: 'Time to the response headers, by route',
        labelNames: ['method', 'route'],
        buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      }),
    ),
    kvLookups: registry.register(
      new Counter({
        name: 'cachecar_kv_lookups_total',
        help: 'Key/value reads by result (hit or miss)',
        labelNames: ['result'],
      }),
    ),
    evictions: registry.register(
      new Counter({
        name: 'cachecar_evictions_total',
        help: 'Rows evicted to stay in the byte budget, by reason',
        labelNames: ['reason'],
      }),
    ),
    sweptRows: registry.register(
      new Counter({
        name: 'cachecar_swept_rows_total',
        help: 'Expired rows deleted by the TTL sweeper',
      }),
    ),
    sweepDuration: registry.register(
      new Histogram({
        name: 'cachecar_sweep_duration_seconds',
        help: 'Time one sweeper pass took',
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      }),
    ),
    busyRetries: registry.register(
      new Counter({
        name: 'cachecar_store_busy_retries_total',
        help: 'Writes retried because the database was locked',
      }),
    ),
    proxyEvents: registry.register(
      new Counter({
        name: 'cachecar_proxy_events_total',
        labelNames: ['upstream', 'event'],
        help: 'Read-through cache events per upstream: hit, miss, stale, revalidated-304/200, collapsed, bypass, stored, overtaken (a purge arrived while fetching: not stored), fill-memory (no room to hold the body: not stored), error:<kind>',
      }),
    ),
    upstreamDuration: registry.register(
      new Histogram({
        name: 'cachecar_upstream_duration_seconds',
        help: 'Time from sending a request upstream to its response headers',
        labelNames: ['upstream'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      }),
    ),
    sharedUp: sharedOnly(
      new Gauge({
        name: 'cachecar_shared_up',
        help: '1 while the shared tier (Valkey/Redis) is connected and its circuit closed',
      }),
    ),
    sharedErrors: sharedOnly(
      new Counter({
        name: 'cachecar_shared_errors_total',
        help: 'Failed shared-tier commands and connection attempts, by operation',
        labelNames: ['operation'],
      }),
    ),
    tierReads: sharedOnly(
      new Counter({
        name: 'cachecar_tier_reads_total',
        help: 'Near-cached reads by where they were answered: local, shared or miss',
        labelNames: ['tier'],
      }),
    ),
    sharedCoalesce: sharedOnly(
      new Counter({
        name: 'cachecar_shared_coalesce_total',
        labelNames: ['outcome'],
        help: 'Cross-task coalescing on a miss in both tiers: lead (this task goes upstream), wait (for another task), pass (not storable last time: upstream at once)',
      }),
    ),
    sharedDegraded: sharedOnly(
      new Counter({
        name: 'cachecar_shared_degraded_total',
        help: 'Operations that ran on the local store alone because the shared tier was down',
        labelNames: ['operation'],
      }),
    ),
    invalidationsReceived: sharedOnly(
      new Counter({
        name: 'cachecar_shared_invalidations_received_total',
        help: 'Invalidation messages from other instances applied to the local store',
      }),
    ),
    connectionsDropped: registry.register(
      new Counter({
        name: 'cachecar_connections_dropped_total',
        help: 'Connections closed on arrival because CACHECAR_MAX_CONNECTIONS were open',
      }),
    ),
    storeErrors: registry.register(
      new Counter({
        name: 'cachecar_store_errors_total',
        help: 'Store failures answered 503/507, by kind',
        labelNames: ['kind'],
      }),
    ),
    // Cumulative, unlike nodejs_eventloop_lag_*: histogram_quantile(0.99, rate(...[5m])) gives a p99 for any window.
    eventLoopDelay: registry.register(
      new Histogram({
        name: 'cachecar_event_loop_delay_seconds',
        help: 'How late a 10 ms timer fired: time the event loop spent busy, sampled every 10 ms',
        buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
      }),
    ),
  }
}

/**
 * Labelled children made once per set of label values, found again with one Map read per label and no allocation:
 * these lookups run on every request of the hot paths.
 */
export function labelledOnce<T>(
  make: (a: string, b: string, c: string) => T,
): (a: string, b?: string, c?: string) => T {
  const made = new Map<string, Map<string, Map<string, T>>>()
  // Fewer labels use the same three levels under empty strings: the lookups stay allocation-free either way.
  return (a, b = '', c = '') => {
    let byB = made.get(a)
    if (!byB) {
      byB = new Map()
      made.set(a, byB)
    }
    let byC = byB.get(b)
    if (!byC) {
      byC = new Map()
      byB.set(b, byC)
    }
    let child = byC.get(c)
    if (child === undefined) {
      child = make(a, b, c)
      byC.set(c, child)
    }
    return child
  }
}
