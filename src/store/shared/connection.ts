// The two connections to the engine: one for commands, with a deadline on each and no offline queue, and one that
// idles on the invalidation channel. Both reconnect for as long as the process runs.
import { Redis, type RedisOptions } from 'ioredis'
import { type Client, withScripts } from './scripts.ts'

export interface ConnectionOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… (TLS, e.g. ElastiCache in-transit encryption). */
  readonly url: string
  /** Per-command deadline; a slower answer counts as a failure. */
  readonly timeoutMs: number
}

/** The command client (with cachecar's scripts) and the subscriber, both created unconnected (lazyConnect). */
export function createConnections(options: ConnectionOptions): { client: Client; subscriber: Redis } {
  const common: RedisOptions = {
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(1000, options.timeoutMs),
    // Fail at once while disconnected, never queue: a request must not wait for the engine to come back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect with capped exponential backoff and jitter, for as long as the process runs.
    retryStrategy: (times) => Math.min(5000, 50 * 2 ** Math.min(times, 7)) * (0.5 + Math.random() / 2),
    lazyConnect: true,
  }
  const client = withScripts(new Redis(options.url, common))
  // The subscriber has no command deadline: it idles on the channel by design.
  const subscriber = new Redis(options.url, { ...common, commandTimeout: undefined, enableOfflineQueue: true })
  return { client, subscriber }
}
