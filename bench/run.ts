// npm run bench: cachecar beside bare Hono serving the same bytes, in one run, printed as ratios.
// Load comes from a separate autocannon process; every run is bounded by BENCH_DURATION_S.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { startChild, type Child } from '../test/helpers/process.ts'
import { tempDir } from '../test/helpers/tmp.ts'

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const here = import.meta.dirname

interface LoadResult { rps: number; p50: number; p99: number; errors: number; non2xx: number; total: number }

function load(url: string, method: 'GET' | 'PUT', keys: number, durationS = DURATION_S, bodyBytes?: number): LoadResult {
  const options = JSON.stringify({ url, method, keys, durationS, connections: CONNECTIONS, ...(bodyBytes && { bodyBytes }) })
  const out = execFileSync(process.execPath, [join(here, 'load.ts'), options], { encoding: 'utf8', timeout: (durationS + 30) * 1000 })
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult
  if (result.errors > 0 || result.non2xx > 0) throw new Error(`${method} ${url}: ${result.errors} errors, ${result.non2xx} non-2xx`)
  return result
}

/** POST with one retry: an idle keep-alive socket may be closed by the server just as the client reuses it. */
async function post(url: string, body: string): Promise<Response> {
  try {
    return await fetch(url, { method: 'POST', body })
  } catch {
    return fetch(url, { method: 'POST', body })
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

async function fill(base: string, namespace: string, count: number, bytes: number, ttl: number): Promise<void> {
  const value = 'x'.repeat(bytes)
  for (let start = 0; start < count; start += 1000) {
    const set = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({ key: `k${start + i}`, value, ttl }))
    const response = await post(`${base}/v1/kv/${namespace}/_bulk`, JSON.stringify({ set }))
    if (!response.ok) throw new Error(`fill failed: ${response.status} ${await response.text()}`)
  }
}

async function fillBare(base: string, namespace: string, count: number, bytes: number): Promise<void> {
  for (let i = 0; i < count; i++) await fetch(`${base}/v1/kv/${namespace}/k${i}`, { method: 'PUT', body: 'x'.repeat(bytes) })
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.split(' ')[1]) : 0
}

function rssMiB(child: Child): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${child.process.pid}/status`, 'utf8')
  const kib = (field: string) => Number(/(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(field)) ?? '')?.[1] ?? 0)
  return { rss: kib('VmRSS:') / 1024, peak: kib('VmHWM:') / 1024 }
}

const dir = tempDir('cachecar-bench-')
// The runtime settings of `npm start` (package.json): a young generation and malloc arenas sized for a sidecar.
const startCachecar = (name: string) => startChild({
  CACHECAR_DB_PATH: join(dir.path, `${name}.db`), CACHECAR_LOG_LEVEL: 'info', CACHECAR_MAX_BYTES: '2GiB',
  CACHECAR_SWEEP_INTERVAL_MS: '1s', CACHECAR_MAX_TTL: '1d', MALLOC_ARENA_MAX: '1',
}, { nodeArgs: ['--max-semi-space-size=4'] })
const cachecar = await startCachecar('bench')
const bare = await startChild({}, { script: join(here, 'bare-hono.ts') })
const rows: string[] = []
try {
  console.log(`cachecar bench: ${DURATION_S}s × ${ROUNDS} rounds per side, ${CONNECTIONS} connections, ${cpus().length} CPUs (${cpus()[0]?.model})`)
  await fill(cachecar.url, 'small', 100, 1024, 86_400)
  await fill(cachecar.url, 'large', 100, 64 * 1024, 86_400)
  await fillBare(bare.url, 'small', 100, 1024)
  await fillBare(bare.url, 'large', 100, 64 * 1024)

  const scenarios = [
    { name: 'GET 1 KiB', method: 'GET', path: '/v1/kv/small', keys: 100, target: 0.85 },
    { name: 'GET 64 KiB', method: 'GET', path: '/v1/kv/large', keys: 100, target: 0.6 },
    { name: 'PUT 1 KiB', method: 'PUT', path: '/v1/kv/put', keys: 1000, bodyBytes: 1024, target: 0.4 },
  ] as const
  rows.push('| scenario | bare Hono req/s | cachecar req/s | ratio (median of rounds) | per-round ratios | target | cachecar p99 ms |', '|---|---|---|---|---|---|---|')
  for (const s of scenarios) {
    const bodyBytes = 'bodyBytes' in s ? s.bodyBytes : undefined
    const bareRps: number[] = []
    const carRps: number[] = []
    let carP99 = 0
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which side goes first, so drift on a shared machine hits both alike; pair each round.
      const runBare = () => { bareRps.push(load(bare.url + s.path, s.method, s.keys, DURATION_S, bodyBytes).rps) }
      const runCar = () => {
        const r = load(cachecar.url + s.path, s.method, s.keys, DURATION_S, bodyBytes)
        carRps.push(r.rps)
        carP99 = Math.max(carP99, r.p99)
      }
      if (round % 2 === 0) { runBare(); runCar() } else { runCar(); runBare() }
    }
    const ratios = carRps.map((rps, i) => rps / bareRps[i]!)
    const ratio = median(ratios)
    rows.push(`| ${s.name} | ${Math.round(median(bareRps))} | ${Math.round(median(carRps))} | **${ratio.toFixed(2)}×** | ${ratios.map((r) => r.toFixed(2)).join(' ')} | ≥ ${s.target}× ${ratio >= s.target ? '✓' : '✗'} | ${carP99.toFixed(1)} |`)
    console.log(rows.at(-1))
  }

  // p99 of 1 KiB GETs while the sweeper deletes 100,000 expired rows, beside p99 without a sweep.
  const sweepDuration = Math.max(DURATION_S, 8)
  const quiet = load(cachecar.url + '/v1/kv/small', 'GET', 100, sweepDuration)
  await fill(cachecar.url, 'expiring', 100_000, 100, 4)
  const sweptBefore = await metric(cachecar.url, 'cachecar_swept_rows_total')
  const sweeping = load(cachecar.url + '/v1/kv/small', 'GET', 100, sweepDuration)
  const swept = (await metric(cachecar.url, 'cachecar_swept_rows_total')) - sweptBefore
  const p99Ratio = sweeping.p99 / Math.max(1, quiet.p99)
  rows.push('', '| sweep of 100,000 expired rows | p99 ms | req/s |', '|---|---|---|',
    `| GET 1 KiB, no sweep | ${quiet.p99} | ${Math.round(quiet.rps)} |`,
    `| GET 1 KiB, sweeping (${swept} rows swept during the run) | ${sweeping.p99} | ${Math.round(sweeping.rps)} |`,
    `| ratio | **${p99Ratio.toFixed(2)}×** (target ≤ 2× ${p99Ratio <= 2 ? '✓' : '✗'}) | |`)
  console.log(rows.slice(-6).join('\n'))
  if (swept < 100_000) console.log(`warning: only ${swept} rows were swept during the measured run`)

  // RSS of a fresh process with 100,000 1 KiB entries stored, then after reading them all under load.
  const fresh = await startCachecar('rss')
  const started = rssMiB(fresh)
  await fill(fresh.url, 'rss', 100_000, 1024, 86_400)
  const stored = rssMiB(fresh)
  load(fresh.url + '/v1/kv/rss', 'GET', 100_000, 3)
  const afterReads = rssMiB(fresh)
  const entries = await metric(fresh.url, 'cachecar_store_entries')
  fresh.process.kill('SIGTERM')
  await fresh.exited
  const mb = (mib: number) => (mib * 1.048576).toFixed(0)
  rows.push('', `| RSS with ${entries} entries stored (100,000 of 1 KiB) | MB | target ≤ 150 MB |`, '|---|---|---|',
    `| at start, empty | ${mb(started.rss)} | |`,
    `| after storing them | ${mb(stored.rss)} | ${stored.rss * 1.048576 <= 150 ? '✓' : '✗'} |`,
    `| after reading them all for 3 s (peak) | ${mb(afterReads.peak)} | ${afterReads.peak * 1.048576 <= 150 ? '✓' : '✗'} |`)
  console.log(rows.slice(-5).join('\n'))
} catch (error) {
  console.error(`bench failed: ${(error as Error).message}\n--- cachecar output (tail) ---\n${cachecar.output().slice(-4000)}`)
  process.exitCode = 1
} finally {
  cachecar.process.kill('SIGTERM')
  bare.process.kill('SIGTERM')
  await Promise.all([cachecar.exited, bare.exited])
  dir.remove()
}
const tool = process.env.BENCH_LOAD !== 'autocannon' && existsSync('/usr/bin/wrk') ? 'wrk' : 'autocannon'
console.log(`\n## ${new Date().toISOString().slice(0, 10)} — ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, load by ${tool}, ${DURATION_S}s × ${ROUNDS} rounds per side, ${CONNECTIONS} connections\n\n${rows.join('\n')}`)
