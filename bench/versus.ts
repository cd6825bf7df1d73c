// This tree beside another revision on the hot paths, in one run: did a change cost the hits anything?
// Usage: npm run bench:versus -- <rev> (default HEAD~1); BENCH_ONLY=<regex> runs only the paths whose label matches. Both versions run from their own trees (a git worktree for
// <rev>, sharing this node_modules) with npm start's runtime settings, on one origin; rounds alternate the order.
// Hits, and misses (fresh URLs, bodies with and without Content-Length). Reports, per path, the median of per-round ratios (this / rev) of req/s and of the server's CPU time per request
// (from /proc: steadier than req/s on shared cores, where the load generator and the other side compete).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startChild, type Child } from '../test/helpers/process.ts'
import { startScript } from '../test/helpers/deployment.ts'
import { CONNECTIONS, DURATION_S, ROUNDS, load, median, otherTree, post } from './lib.ts'
import type { LoadResult } from './load.ts'

const ROOT = join(import.meta.dirname, '..')
const rev = process.argv[2] ?? 'HEAD~1'
const tree = otherTree(rev, 'versus')
const { commit, scratch } = tree
const other = tree.root
// Its own process: load runs block this one's event loop, and misses need the origin to answer meanwhile.
const origin = await startChild({}, { script: join(import.meta.dirname, 'origin.ts') })
const originUrl = origin.url
/** Requests the origin answered under `prefix` so far. */
const answered = async (prefix: string) =>
  ((await (await fetch(`${originUrl}/count?prefix=${prefix}`)).json()) as { count: number }).count
const body = Buffer.alloc(1024, 'x')

const { env: runtimeEnv, nodeArgs } = startScript()
async function start(root: string, name: string): Promise<Child> {
  const env = {
    ...runtimeEnv,
    CACHECAR_DB_PATH: join(scratch, name, 'cachecar.db'),
    CACHECAR_UPSTREAMS: `api=${originUrl}`,
    CACHECAR_LOG_LEVEL: 'info',
  }
  return startChild(env, { script: join(root, 'src', 'main.ts'), nodeArgs })
}

/** User plus system CPU seconds the process has used so far. */
function cpuSeconds(child: Child): number {
  const fields = readFileSync(`/proc/${child.process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
}

const sides = { this: await start(ROOT, 'this'), [commit]: await start(other, 'other') }
const sessionIds: Record<string, string> = {}
for (const [name, child] of Object.entries(sides)) {
  await fetch(`${child.url}/u/api/hit`)
  await fetch(`${child.url}/v1/kv/app/k0`, { method: 'PUT', body })
  const session = await post(`${child.url}/v1/sessions`, JSON.stringify({ data: { blob: 'x'.repeat(1000) } }))
  sessionIds[name] = ((await session.json()) as { id: string }).id
}

/** Each path's load run against one side's base URL. */
const hits = (path: (side: string) => string) => (url: string, side: string) =>
  load(url, 'GET', 1, { paths: [path(side)] })
/** Every request a URL no earlier request named: fetched from the origin, stored, answered. */
const misses = (prefix: string) => (url: string) => load(`${url}${prefix}`, 'GET', 1e12, { fresh: true })
const paths: [label: string, run: (url: string, side: string) => LoadResult, missesUnder?: string][] = [
  ['proxy hit 1 KiB', hits(() => '/u/api/hit')],
  ['key/value GET 1 KiB', hits(() => '/v1/kv/app/k0')],
  ['session GET (1 KiB data)', hits((side) => `/v1/sessions/${sessionIds[side]}`)],
  ['proxy miss 1 KiB, Content-Length', misses('/u/api/miss'), '/miss'],
  ['proxy miss 1 KiB, chunked', misses('/u/api/chunked'), '/chunked'],
]
console.log(
  `versus ${commit}: ${DURATION_S}s × ${ROUNDS} rounds per side, ${CONNECTIONS} connections; ratios are this / ${commit}`,
)
console.log('| path | req/s ratio (median) | CPU per request ratio (median) | per-round req/s ratios |')
console.log('|---|---|---|---|')
try {
  // BENCH_ONLY=<regex>: only the paths whose label matches it (a bisection needs one or two paths, not five).
  const only = process.env.BENCH_ONLY
  for (const [label, run, missesUnder] of paths.filter(([label]) => !only || new RegExp(only).test(label))) {
    const rps: number[] = []
    const cpu: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['this', commit] : [commit, 'this']
      const got: Record<string, { rps: number; cpuPerRequest: number }> = {}
      for (const side of order) {
        const child = sides[side]!
        const cpuBefore = cpuSeconds(child)
        const before = missesUnder === undefined ? 0 : await answered(missesUnder)
        const result = run(child.url, side)
        // A miss run served from the cache would measure hits: the origin must have answered every request.
        const fetched = missesUnder === undefined ? 0 : (await answered(missesUnder)) - before
        if (missesUnder !== undefined && fetched < result.total)
          throw new Error(`${label}: the origin answered ${fetched} of ${result.total} requests`)
        got[side] = { rps: result.rps, cpuPerRequest: (cpuSeconds(child) - cpuBefore) / result.total }
      }
      rps.push(got.this!.rps / got[commit]!.rps)
      cpu.push(got.this!.cpuPerRequest / got[commit]!.cpuPerRequest)
    }
    console.log(
      `| ${label} | **${median(rps).toFixed(3)}** | **${median(cpu).toFixed(3)}** | ${rps.map((r) => r.toFixed(2)).join(' ')} |`,
    )
  }
} finally {
  for (const child of Object.values(sides)) child.process.kill('SIGTERM')
  await Promise.all(Object.values(sides).map((child) => child.exited))
  origin.process.kill('SIGTERM')
  await origin.exited
  tree.remove()
}
