// npm run bench: cachecar beside bare Hono serving the same bytes, in one run, printed as ratios.
// Load comes from a separate autocannon process; every run is bounded by BENCH_DURATION_S.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { startScript } from '../test/helpers/deployment.ts'
import { startChild } from '../test/helpers/process.ts'
import { tempDir } from '../test/helpers/tmp.ts'
import {
  COMPARE_HEADER,
  CONNECTIONS,
  DURATION_S,
  ROUNDS,
  compare,
  compareRow,
  fill,
  fillBare,
  load,
  metric,
  rssMiB,
} from './lib.ts'
import { proxyScenarios } from './proxy.ts'
import { sharedScenarios } from './shared.ts'

const here = import.meta.dirname

// BENCH_ONLY=kv,sessions,sweep,rss,proxy,shared,ceiling picks sections (all by default), for iterating on one of them.
const SECTIONS = ['kv', 'sessions', 'sweep', 'rss', 'proxy', 'shared', 'ceiling']
const only = new Set((process.env.BENCH_ONLY ?? SECTIONS.join(',')).split(',').map((s) => s.trim()))
const unknown = [...only].filter((s) => !SECTIONS.includes(s))
if (unknown.length > 0) {
  console.error(`BENCH_ONLY: unknown section(s) ${unknown.join(', ')}; choose from ${SECTIONS.join(', ')}`)
  process.exit(2)
}

const dir = tempDir('cachecar-bench-')
// The runtime settings of `npm start` (package.json): a young generation and malloc arenas sized for a sidecar.
const runtime = startScript()
const startCachecar = (name: string, env: Record<string, string> = {}, script?: string) =>
  startChild(
    {
      CACHECAR_DB_PATH: join(dir.path, `${name}.db`),
      CACHECAR_LOG_LEVEL: 'info',
      CACHECAR_MAX_BYTES: '2GiB',
      CACHECAR_SWEEP_INTERVAL_MS: '1s',
      CACHECAR_MAX_TTL: '1d',
      ...runtime.env,
      ...env,
    },
    { nodeArgs: runtime.nodeArgs, ...(script && { script }) },
  )
const cachecar = await startCachecar('bench')
const bare = await startChild({}, { script: join(here, 'bare-hono.ts') })
const rows: string[] = []
try {
  console.log(
    `cachecar bench: ${DURATION_S}s × ${ROUNDS} rounds per side, ${CONNECTIONS} connections, ${cpus().length} CPUs (${cpus()[0]?.model})`,
  )
  await fill(cachecar.url, 'small', 100, 1024, 86_400)
  await fill(cachecar.url, 'large', 100, 64 * 1024, 86_400)
  await fillBare(bare.url, 'small', 100, 1024)
  await fillBare(bare.url, 'large', 100, 64 * 1024)

  if (only.has('kv')) {
    const scenarios = [
      { name: 'GET 1 KiB', method: 'GET', path: '/v1/kv/small', keys: 100, target: 0.85 },
      { name: 'GET 64 KiB', method: 'GET', path: '/v1/kv/large', keys: 100, target: 0.6 },
      { name: 'PUT 1 KiB', method: 'PUT', path: '/v1/kv/put', keys: 1000, bodyBytes: 1024, target: 0.4 },
    ] as const
    rows.push('### Key/value API beside bare Hono serving the same bytes from memory', '', ...COMPARE_HEADER)
    for (const s of scenarios) {
      const bodyBytes = 'bodyBytes' in s ? s.bodyBytes : undefined
      const c = compare(
        () => load(bare.url + s.path, s.method, s.keys, { bodyBytes }),
        () => load(cachecar.url + s.path, s.method, s.keys, { bodyBytes }),
      )
      rows.push(compareRow(s.name, c, s.target))
      console.log(rows.at(-1))
    }
  }

  // Sessions beside key/value GETs of the same size, on the same cachecar.
  if (only.has('sessions')) {
    const sessionPaths: string[] = []
    for (let i = 0; i < 100; i++) {
      const response = await fetch(`${cachecar.url}/v1/sessions`, {
        method: 'POST',
        body: JSON.stringify({ data: { blob: 'x'.repeat(1000) }, subject: `u${i}` }),
      })
      sessionPaths.push(`/v1/sessions/${((await response.json()) as { id: string }).id}`)
    }
    rows.push('', '### Sessions beside key/value GET of the same size (1 KiB), same cachecar', '', ...COMPARE_HEADER)
    for (const s of [
      { name: 'session GET (touch on, amortised)', method: 'GET' as const, body: undefined, target: 0.8 },
      { name: 'session PATCH (merge patch, atomic)', method: 'PATCH' as const, body: '{"n":1}', target: 0 },
    ]) {
      const c = compare(
        () => load(`${cachecar.url}/v1/kv/small`, 'GET', 100),
        () =>
          load(cachecar.url, s.method, 100, {
            paths: sessionPaths,
            ...(s.body && { body: s.body }),
          }),
      )
      rows.push(compareRow(s.name, c, s.target).replace('≥ 0× ✓', 'for reference'))
      console.log(rows.at(-1))
    }
  }

  // p99 of 1 KiB GETs while the sweeper deletes 100,000 expired rows, beside p99 without a sweep.
  if (only.has('sweep')) {
    const sweepDuration = Math.max(DURATION_S, 8)
    const quiet = load(`${cachecar.url}/v1/kv/small`, 'GET', 100, { durationS: sweepDuration })
    await fill(cachecar.url, 'expiring', 100_000, 100, 4)
    const sweptBefore = await metric(cachecar.url, 'cachecar_swept_rows_total')
    const sweeping = load(`${cachecar.url}/v1/kv/small`, 'GET', 100, { durationS: sweepDuration })
    const swept = (await metric(cachecar.url, 'cachecar_swept_rows_total')) - sweptBefore
    const p99Ratio = sweeping.p99 / Math.max(1, quiet.p99)
    rows.push(
      '',
      '| sweep of 100,000 expired rows | p99 ms | req/s |',
      '|---|---|---|',
      `| GET 1 KiB, no sweep | ${quiet.p99} | ${Math.round(quiet.rps)} |`,
      `| GET 1 KiB, sweeping (${swept} rows swept during the run) | ${sweeping.p99} | ${Math.round(sweeping.rps)} |`,
      `| ratio | **${p99Ratio.toFixed(2)}×** (target ≤ 2× ${p99Ratio <= 2 ? '✓' : '✗'}) | |`,
    )
    console.log(rows.slice(-6).join('\n'))
    if (swept < 100_000) console.log(`warning: only ${swept} rows were swept during the measured run`)
  }

  // RSS of a fresh process, empty, then with 100,000 1 KiB entries stored and after reading them all under load: the
  // compiled output the image runs (npm run build), beside the sources npm start runs.
  if (only.has('rss')) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: join(here, '..'), stdio: 'inherit' })
    const mb = (mib: number) => (mib * 1.048576).toFixed(0)
    const measured: Record<string, { started: number; stored: number; peak: number; entries: number }> = {}
    for (const [side, script] of [
      ['image (dist/main.js)', join(here, '..', 'dist', 'main.js')],
      ['sources (npm start)', undefined],
    ] as const) {
      const fresh = await startCachecar(`rss-${side.split(' ')[0]}`, {}, script)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const started = rssMiB(fresh).rss
      await fill(fresh.url, 'rss', 100_000, 1024, 86_400)
      const stored = rssMiB(fresh).rss
      load(`${fresh.url}/v1/kv/rss`, 'GET', 100_000, { durationS: 3 })
      const peak = rssMiB(fresh).peak
      const entries = await metric(fresh.url, 'cachecar_store_entries')
      fresh.process.kill('SIGTERM')
      await fresh.exited
      measured[side] = { started, stored, peak, entries }
    }
    const image = measured['image (dist/main.js)']!
    const sources = measured['sources (npm start)']!
    const mark = (mib: number, limit: number) => (mib * 1.048576 <= limit ? '✓' : '✗')
    rows.push(
      '',
      `| RSS, MB (${image.entries} entries of 1 KiB stored) | image (dist/main.js) | sources (npm start) | target (image) |`,
      '|---|---|---|---|',
      `| idle, right after start | ${mb(image.started)} | ${mb(sources.started)} | ≤ 70 ${mark(image.started, 70)} |`,
      `| after storing 100,000 | ${mb(image.stored)} | ${mb(sources.stored)} | |`,
      `| peak (VmHWM) after reading them all for 3 s | ${mb(image.peak)} | ${mb(sources.peak)} | ≤ 120 ${mark(image.peak, 120)} |`,
    )
    console.log(rows.slice(-5).join('\n'))
  }
  if (only.has('proxy')) rows.push('', ...(await proxyScenarios(bare.url, startCachecar, dir.path)))
  if (only.has('shared')) rows.push('', ...(await sharedScenarios(startCachecar)))
  // The hot paths against a raw node:http server replaying cachecar's exact answers (and nginx's proxy_cache hit),
  // by the shared ceiling.sh; CEILING_SCENARIOS picks scenarios, CEILING_KEYS rotates over that many keys.
  if (only.has('ceiling')) rows.push('', ...ceiling())
} catch (error) {
  console.error(
    `bench failed: ${(error as Error).message}\n--- cachecar output (tail) ---\n${cachecar.output().slice(-4000)}`,
  )
  process.exitCode = 1
} finally {
  cachecar.process.kill('SIGTERM')
  bare.process.kill('SIGTERM')
  await Promise.all([cachecar.exited, bare.exited])
  dir.remove()
}
function ceiling(): string[] {
  const script = join(here, '..', '..', 'shared', 'bench', 'ceiling.sh')
  if (!existsSync(script)) return [`ceiling: ${script} is not on this machine; skipped`]
  const scenarios = (process.env.CEILING_SCENARIOS ?? '').split(',').filter(Boolean)
  const output = execFileSync('bash', [script, ...scenarios], {
    cwd: join(here, '..'),
    encoding: 'utf8',
    env: { ...process.env, ROUNDS: String(ROUNDS), KEYS: process.env.CEILING_KEYS ?? '1' },
    timeout: 30 * 60_000,
  })
  const table = output.split('\n').filter((line) => !line.startsWith('RATIO '))
  console.log(table.join('\n'))
  return table
}

const tool = process.env.BENCH_LOAD !== 'autocannon' && existsSync('/usr/bin/wrk') ? 'wrk' : 'autocannon'
console.log(
  `\n## ${new Date().toISOString().slice(0, 10)} — ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, load by ${tool}, ${DURATION_S}s × ${ROUNDS} rounds per side, ${CONNECTIONS} connections\n\n${rows.join('\n')}`,
)
