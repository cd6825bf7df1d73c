// Builds the store stack from config: SQLite, the in-memory tier in front of it, and the shared tier when configured.
import { randomUUID } from 'node:crypto'
import { maskedUrl } from '../config/spec.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../ops/logger.ts'
import { labelledOnce, type Metrics } from '../ops/metrics.ts'
import { HotTier } from '../store/hot-tier.ts'
import { SESSIONS, isInternal, isSubjectTag } from '../store/keyspace.ts'
import { SqliteStore, type SqliteStoreOptions } from '../store/sqlite/sqlite-store.ts'
import type { NamespaceRole } from '../store/tiered/near-copies.ts'
import type { TieredStore } from '../store/tiered/tiered-store.ts'
import type { Store } from '../store/types.ts'

export interface StoreStack {
  readonly store: Store
  /** The shared tier's state for /readyz; undefined when none is configured. */
  readonly shared?: () => { url: string; up: boolean; connected: boolean; circuitOpenMs: number }
  /** Waits a bounded time for the shared tier's first connection; cachecar starts either way. */
  readonly ready?: () => Promise<boolean>
}

/** How long start waits for the shared tier: long enough for a healthy engine, short enough for a fast start. */
const SHARED_START_WAIT_MS = 1000

export interface StoreStackOptions {
  readonly now?: () => number
  /** Store settings no deployment should change; tests use them to provoke lock contention and a full disk. */
  readonly sqlite?: Pick<SqliteStoreOptions, 'lockingMode' | 'retry' | 'maxPages'>
}

export async function createStoreStack(
  config: Config,
  metrics: Metrics,
  logger: Logger,
  options: StoreStackOptions = {},
): Promise<StoreStack> {
  const sqlite = new SqliteStore({
    path: config.dbPath,
    maxBytes: config.maxBytes,
    ...(options.now && { now: options.now }),
    ...options.sqlite,
    events: {
      evicted: (reason, rows) => metrics.evictions.labels(reason).inc(rows),
      busyRetry: () => metrics.busyRetries.inc(),
      maintenanceFailed: (error) =>
        logger.warn({ event: 'maintenance_failed', err: error }, 'eviction or vacuum failed; retrying next pass'),
    },
  })
  const local =
    config.memoryBytes > 0
      ? new HotTier(sqlite, {
          maxBytes: config.memoryBytes,
          maxEntryBytes: Math.min(1024 ** 2, config.memoryBytes / 16),
          secretKeys: new Set([SESSIONS]),
          ...(options.now && { now: options.now }),
        })
      : sqlite
  if (!config.sharedUrl) return { store: local }
  // Loaded only with a shared tier configured: the engine client (ioredis) is about 5 MB of an idle process.
  const [{ SharedTier }, { TieredStore }] = await Promise.all([
    import('../store/shared/shared-tier.ts'),
    import('../store/tiered/tiered-store.ts'),
  ])

  const url = maskedUrl(config.sharedUrl)
  let tiered: TieredStore | undefined
  metrics.sharedUp.set(0)
  const shared = new SharedTier({
    url: config.sharedUrl,
    prefix: config.sharedPrefix,
    timeoutMs: config.sharedTimeoutMs,
    instanceId: randomUUID(),
    secretKeys: new Set([SESSIONS]),
    onStateChange: (up, reason) => {
      metrics.sharedUp.set(up ? 1 : 0)
      if (up) logger.info({ event: 'shared_tier_up', url, reason }, 'shared tier connected')
      else
        logger.warn(
          { event: 'shared_tier_down', url, reason },
          'shared tier unavailable: near caches serve alone, sessions answer 503',
        )
    },
    onInvalidation: (message) => {
      metrics.invalidationsReceived.inc()
      tiered
        ?.applyInvalidation(message)
        .catch((error: unknown) =>
          logger.warn({ event: 'invalidation_failed', err: error }, 'could not apply an invalidation locally'),
        )
    },
    onError: (operation) => metrics.sharedErrors.labels(operation).inc(),
  })
  const tierReads = labelledOnce((tier) => metrics.tierReads.labels(tier))
  tiered = new TieredStore(local, shared, {
    // Sessions live in the shared tier alone; cachecar's other data (stored responses) is a near cache that does
    // not announce its writes; the app's key/value data is a near cache that does.
    roleOf: (namespace): NamespaceRole =>
      namespace === SESSIONS ? 'authoritative' : isInternal(namespace) ? 'near-quiet' : 'near',
    authoritativeTag: isSubjectTag,
    maxSharedValueBytes: config.sharedMaxValueBytes,
    coalesceMs: config.sharedCoalesceMs,
    ...(options.now && { now: options.now }),
    events: {
      read: (tier) => tierReads(tier).inc(),
      coalesce: (outcome) => metrics.sharedCoalesce.labels(outcome).inc(),
      degraded: (operation) => metrics.sharedDegraded.labels(operation).inc(),
    },
  })
  return {
    store: tiered,
    shared: () => ({ url, ...shared.state }),
    ready: () => shared.waitUntilUp(SHARED_START_WAIT_MS),
  }
}
