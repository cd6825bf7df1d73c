import { createApp } from '../../src/wiring/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { createMetrics } from '../../src/ops/metrics.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import type { Store } from '../../src/store/types.ts'
import { ManualClock } from './clock.ts'
import { capturingLogger } from './logs.ts'

export interface TestApp {
  readonly clock: ManualClock
  readonly store: Store
  readonly config: Config
  readonly logs: string[]
  request(path: string, init?: RequestInit): Promise<Response>
  metrics(): Promise<string>
}

export function testApp(
  env: Record<string, string> = {},
  store?: (clock: ManualClock, config: Config) => Store,
): TestApp {
  const config = loadConfig({
    CACHECAR_DB_PATH: ':memory:',
    CACHECAR_MAX_BYTES: '64MiB',
    CACHECAR_MAX_VALUE_BYTES: '1MiB',
    ...env,
  })
  const clock = new ManualClock()
  const theStore =
    store?.(clock, config) ?? new SqliteStore({ path: ':memory:', maxBytes: config.maxBytes, now: clock.now })
  const { logger, logs } = capturingLogger('debug')
  const metrics = createMetrics(() => theStore)
  const app = createApp({ config, store: theStore, metrics, logger, now: clock.now })
  return {
    clock,
    store: theStore,
    config,
    logs,
    request: async (path, init) => app.request(path, init),
    metrics: () => metrics.registry.metrics(),
  }
}

/** Asserts nothing; returns the parsed problem body and checks its media type. */
export async function problemOf(
  response: Response,
): Promise<{ type: string; title: string; status: number; detail: string; field?: string }> {
  const type = response.headers.get('content-type')
  if (type !== 'application/problem+json')
    throw new Error(`expected a problem, got ${response.status} ${type}: ${await response.text()}`)
  return response.json() as Promise<{ type: string; title: string; status: number; detail: string; field?: string }>
}
