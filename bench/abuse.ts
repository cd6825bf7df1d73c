// Abuse beside normal load: what a few hostile clients cost everyone else. Runs cachecar as npm start does, with a
// fixed-rate normal load (key/value and proxy hits of 1 KiB) for a quiet phase, then again while abusers run: stalled
// readers and pipelined GETs of an 8 MB value, repeated bulk gets of it, deeply nested JSON, concurrent 8 MB writes.
// Reports, per phase, cachecar's RSS peak, the disk peak against the budget, and the normal clients' p99 and failures.
// Usage: npm run abuse (ABUSE_ROUNDS of a quiet and an abused phase, 3 by default; ABUSE_PHASE_S, 10 s by default;
// ABUSE_RATE, normal requests a second, 500 by default; ABUSE_ONLY, a comma list of the abusers to run; CACHECAR_*
// variables override cachecar's settings).
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { startScript } from '../test/helpers/deployment.ts'
import { startChild } from '../test/helpers/process.ts'
import { tempDir } from '../test/helpers/tmp.ts'
import { fixedOrigin } from './lib.ts'

const PHASE_S = Number(process.env.ABUSE_PHASE_S ?? 10)
const ROUNDS = Number(process.env.ABUSE_ROUNDS ?? 3)
const RATE = Number(process.env.ABUSE_RATE ?? 500)
const BUDGET = 256 * 1024 ** 2
const BIG = 8 * 1024 ** 2
/** ABUSE_ONLY picks abusers (a comma list of stalled, pipelined, bulk, deep, writes; all by default). */
const ABUSERS = new Set(
  (process.env.ABUSE_ONLY ?? 'stalled,pipelined,bulk,deep,writes').split(',').map((s) => s.trim()),
)

const origin = await fixedOrigin()
const dir = tempDir('cachecar-abuse-')
const { env: runtimeEnv, nodeArgs } = startScript()
const car = await startChild(
  {
    ...runtimeEnv,
    CACHECAR_DB_PATH: join(dir.path, 'cachecar.db'),
    CACHECAR_MAX_BYTES: String(BUDGET),
    CACHECAR_MAX_VALUE_BYTES: String(BIG),
    CACHECAR_UPSTREAMS: `api=${origin.url}`,
    CACHECAR_LOG_LEVEL: 'info',
    // CACHECAR_* set when the bench runs override the above (to try other bounds side by side).
    ...(Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('CACHECAR_'))) as Record<
      string,
      string
    >),
  },
  { nodeArgs },
)
const pid = car.process.pid!

await fetch(`${car.url}/v1/kv/app/small`, { method: 'PUT', body: Buffer.alloc(1024, 'x') })
await fetch(`${car.url}/v1/kv/app/v8`, { method: 'PUT', body: Buffer.alloc(BIG, 1) })
// Random bytes are not UTF-8: a bulk get carries them as base64, a 10.7 MB answer (within the 16 MiB bulk limit).
await fetch(`${car.url}/v1/kv/app/random8`, { method: 'PUT', body: randomBytes(BIG) })
await fetch(`${car.url}/u/api/hit`)

const rssBytes = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
function diskBytes(path: string): number {
  let total = 0
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    try {
      total += entry.isDirectory() ? diskBytes(join(path, entry.name)) : statSync(join(path, entry.name)).size
    } catch {
      // Deleted between listing and stat.
    }
  }
  return total
}

/** Runs the normal load for one phase while sampling RSS and disk; `abuse` runs beside it until the phase ends. */
async function phase(
  abuse?: (until: number) => Promise<void>,
): Promise<{ rss: number; disk: number; p99: number; failed: number; total: number }> {
  let rss = 0
  let disk = 0
  const sampler = setInterval(() => {
    rss = Math.max(rss, rssBytes())
    disk = Math.max(disk, diskBytes(dir.path))
  }, 50)
  const until = Date.now() + PHASE_S * 1000
  const abusing = abuse?.(until)
  let next = 0
  const paths = ['/v1/kv/app/small', '/u/api/hit']
  const normal = await autocannon({
    url: car.url,
    connections: 16,
    duration: PHASE_S,
    overallRate: RATE,
    requests: [{ setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! }) }],
  })
  await abusing
  clearInterval(sampler)
  return {
    rss,
    disk,
    p99: normal.latency.p99,
    failed: normal.errors + normal.timeouts + normal.non2xx,
    total: normal.requests.total,
  }
}

/** Runs the abusers (bench/abusers.ts) in their own process until `until`, so their work never delays the normal clients' event loop. */
async function abusers(until: number): Promise<void> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'abusers.ts')], {
    env: { ...process.env, ABUSE_URL: car.url, ABUSE_UNTIL: String(until), ABUSE_ONLY: [...ABUSERS].join(',') },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`the abusers exited with ${code}`)
}

/** Median of `values`. */
const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

try {
  // Quiet and abused phases alternate, so drift on the shared cores reaches both; the p99 target is the median of
  // the per-round ratios. RSS is held against the first quiet phase: memory taken by an abused phase is not always
  // given back to the OS, and a later quiet phase would flatter the ratio.
  const rounds: { quiet: Awaited<ReturnType<typeof phase>>; abused: Awaited<ReturnType<typeof phase>> }[] = []
  for (let round = 0; round < ROUNDS; round++) rounds.push({ quiet: await phase(), abused: await phase(abusers) })
  const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(1)
  console.log(
    `abuse (${[...ABUSERS].join(', ')}): ${ROUNDS} rounds of ${PHASE_S} s quiet + ${PHASE_S} s abused, normal load ${RATE} req/s (1 KiB key/value and proxy hits), budget ${mib(BUDGET)} MiB`,
  )
  console.log('| round | phase | RSS peak MiB | disk peak MiB | normal p99 ms | normal failed / total |')
  console.log('|---|---|---|---|---|---|')
  for (const [i, round] of rounds.entries()) {
    for (const [name, r] of [
      ['quiet', round.quiet],
      ['abused', round.abused],
    ] as const) {
      console.log(`| ${i + 1} | ${name} | ${mib(r.rss)} | ${mib(r.disk)} | ${r.p99} | ${r.failed} / ${r.total} |`)
    }
  }
  const quietRss = rounds[0]!.quiet.rss
  const abusedRss = Math.max(...rounds.map((r) => r.abused.rss))
  const disk = Math.max(...rounds.map((r) => r.abused.disk))
  const p99Ratio = median(rounds.map((r) => r.abused.p99 / Math.max(1, r.quiet.p99)))
  const failed = rounds.reduce((sum, r) => sum + r.abused.failed, 0)
  const check = (ok: boolean) => (ok ? '✓' : '✗')
  console.log(
    `targets: RSS peak ${(abusedRss / quietRss).toFixed(2)}× the first quiet phase (≤ 1.5 ${check(abusedRss <= 1.5 * quietRss)}), ` +
      `disk ${(disk / BUDGET).toFixed(2)}× budget (≤ 1.1 ${check(disk <= 1.1 * BUDGET)}), ` +
      `p99 ${p99Ratio.toFixed(2)}× quiet, median of rounds (≤ 2 ${check(p99Ratio <= 2)}), ` +
      `normal failures ${failed} (0 ${check(failed === 0)})`,
  )
} finally {
  car.process.kill('SIGTERM')
  await car.exited
  origin.close()
  dir.remove()
}
