// Shared-tier scenarios for npm run bench: one cachecar task reading 1 KiB proxy responses from its own SQLite (L1),
// from the shared tier another task filled (L2, a real redis-server on loopback), and from the origin (miss).
import { join } from 'node:path'
import type { Child } from '../test/helpers/process.ts'
import { startChild } from '../test/helpers/process.ts'
import { startRedis } from '../test/helpers/redis.ts'
import { ROUNDS, load, median } from './lib.ts'

const here = import.meta.dirname
/** URLs another task fetched before each L2 round; the round must not wrap around them (that would be L1 hits). */
const L2_URLS = 20_000
const L2_DURATION_S = 1

export async function sharedScenarios(
  startCachecar: (name: string, env: Record<string, string>) => Promise<Child>,
): Promise<string[]> {
  const redis = await startRedis()
  const origin = await startChild({}, { script: join(here, 'origin.ts') })
  const env = { CACHECAR_UPSTREAMS: `origin=${origin.url}`, CACHECAR_SHARED_URL: redis.url }
  const filler = await startCachecar('shared-a', env)
  const reader = await startCachecar('shared-b', env)
  try {
    for (let i = 0; i < 100; i++) await (await fetch(`${reader.url}/u/origin/small/k${i}`)).arrayBuffer()
    const l1: number[] = []
    const l2: number[] = []
    const miss: number[] = []
    let sharedShare = 1
    for (let round = 0; round < ROUNDS; round++) {
      l1.push(load(`${reader.url}/u/origin/small`, 'GET', 100).rps)
      await warm(filler.url, `/u/origin/small/r${round}`, L2_URLS)
      const before = await tierReads(reader.url)
      const run = load(`${reader.url}/u/origin/small/r${round}`, 'GET', L2_URLS, { durationS: L2_DURATION_S })
      const after = await tierReads(reader.url)
      sharedShare = Math.min(sharedShare, (after.shared - before.shared) / Math.max(1, after.total - before.total))
      l2.push(run.rps)
      miss.push(load(`${reader.url}/u/origin/miss/r${round}`, 'GET', 1e9).rps)
    }
    const ratio = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!))
    const rows = [
      '### Shared tier (redis-server 7 on loopback): one task reading what it holds, what another task fetched, and misses',
      '',
      '| scenario (1 KiB proxy response) | req/s (median) | ratio to L1 hit (median of rounds) | per-round req/s |',
      '|---|---|---|---|',
      `| L1 hit: the task's own SQLite | ${Math.round(median(l1))} | 1.00× | ${l1.map(Math.round).join(' ')} |`,
      `| L2 hit: fetched by another task, read from the shared tier (then kept in L1) | ${Math.round(median(l2))} | **${ratio(l2, l1).toFixed(2)}×** | ${l2.map(Math.round).join(' ')} |`,
      `| miss: fetched from the origin (one L2 lookup first) | ${Math.round(median(miss))} | **${ratio(miss, l1).toFixed(2)}×** | ${miss.map(Math.round).join(' ')} |`,
      '',
      `L2 hit runs last ${L2_DURATION_S} s over ${L2_URLS} URLs fetched by the other task; at least ${(sharedShare * 100).toFixed(0)} % of their reads were answered by the shared tier (the rest are L1 hits on URLs read twice). L2 hit vs miss: **${ratio(l2, miss).toFixed(2)}×**.`,
    ]
    console.log(rows.join('\n'))
    return rows
  } finally {
    for (const child of [reader, filler, origin]) child.process.kill('SIGTERM')
    await Promise.all([reader.exited, filler.exited, origin.exited])
    await redis.stop()
  }
}

async function warm(base: string, path: string, count: number): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const response = await fetch(`${base}${path}/k${next++}`)
        await response.arrayBuffer()
        if (response.status !== 200) throw new Error(`warming ${path}: ${response.status}`)
      }
    }),
  )
}

async function tierReads(base: string): Promise<{ shared: number; total: number }> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const value = (tier: string) =>
    Number(new RegExp(`^cachecar_tier_reads_total\\{tier="${tier}"\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0)
  return { shared: value('shared'), total: value('shared') + value('local') + value('miss') }
}
