// Runs the Store contract against every implementation: in-memory, SQLite :memory: and SQLite on a file.
import { join } from 'node:path'
import { HotTier } from '../../src/store/hot-tier.ts'
import { MemoryStore } from '../../src/store/memory-store.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { storeContract } from '../helpers/store-contract.ts'
import { startRedis } from '../helpers/redis.ts'
import { tieredOverRedis } from '../helpers/tiered.ts'
import { tempDir } from '../helpers/tmp.ts'

const MiB = 1024 ** 2

storeContract('MemoryStore', (clock) => new MemoryStore({ maxBytes: 64 * MiB, now: clock.now }))
storeContract(
  'SqliteStore :memory:',
  (clock) => new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, now: clock.now }),
)

storeContract(
  'HotTier over SqliteStore',
  (clock) =>
    new HotTier(new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, now: clock.now }), {
      maxBytes: MiB,
      maxEntryBytes: 64 * 1024,
      now: clock.now,
    }),
)

// Every namespace held under digests, as sessions are: the contract must not notice.
storeContract(
  'HotTier over SqliteStore, secret keys',
  (clock) =>
    new HotTier(new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, now: clock.now }), {
      maxBytes: MiB,
      maxEntryBytes: 64 * 1024,
      now: clock.now,
      secretKeys: new Set(['ns', 'a', 'b', 'other', 'sessions']),
    }),
)

const dir = tempDir()
let n = 0
storeContract(
  'SqliteStore on a file',
  (clock) => new SqliteStore({ path: join(dir.path, `contract-${n++}.db`), maxBytes: 64 * MiB, now: clock.now }),
)
// Every value in a file beside the database, as large values are kept: the contract must not notice.
storeContract(
  'SqliteStore on a file, every value in a value file',
  (clock) =>
    new SqliteStore({
      path: join(dir.path, `contract-${n++}.db`),
      maxBytes: 64 * MiB,
      now: clock.now,
      fileValueBytes: 1,
    }),
)
process.on('exit', dir.remove)

// The tiered store over a real redis-server: every namespace near-cached, then every namespace authoritative.
const redis = await startRedis()
for (const role of ['near', 'authoritative'] as const) {
  storeContract(
    `TieredStore (${role}) over MemoryStore + redis-server`,
    (clock) => tieredOverRedis(redis, role, clock.now),
    { localSweep: role === 'near' },
  )
}
