// A TieredStore over a MemoryStore and a real redis-server, as the contract and model tests run it: each store under a
// key prefix of its own, so stores sharing one server never see each other's keys.
import { MemoryStore } from '../../src/store/memory-store.ts'
import { SharedTier } from '../../src/store/shared/shared-tier.ts'
import type { NamespaceRole } from '../../src/store/tiered/near-copies.ts'
import { TieredStore } from '../../src/store/tiered/tiered-store.ts'
import type { TestRedis } from './redis.ts'

const MiB = 1024 ** 2
let stores = 0

/** Every namespace in `role`; values up to 1 MiB go to the shared tier. */
export async function tieredOverRedis(redis: TestRedis, role: NamespaceRole, now: () => number): Promise<TieredStore> {
  const shared = new SharedTier({ url: redis.url, prefix: `tiered-${stores++}:`, timeoutMs: 1000, instanceId: 'test' })
  if (!(await shared.waitUntilUp(5000))) throw new Error('redis-server did not accept a connection')
  return new TieredStore(new MemoryStore({ maxBytes: 64 * MiB, now }), shared, {
    roleOf: () => role,
    maxSharedValueBytes: MiB,
    now,
  })
}
