// Instructions per request on the hot paths, this tree beside another revision, counted by valgrind's callgrind:
// unlike req/s or CPU time, counts do not move with what else the machine is doing, so differences of a few percent
// show. Usage: npm run bench:instructions -- <rev> (default HEAD~1); needs valgrind (apt-get install valgrind).
// Each side runs under callgrind with instrumentation off, is warmed up, then counts BATCHES batches of N sequential
// keep-alive requests per path (callgrind_control switches counting on and dumps after each batch). Both sides get
// the same request sequence, so batch i of one is compared with batch i of the other (GC and JIT tiering land in
// the same batches); the figure is the median of those paired ratios.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { freePort } from '../test/helpers/process.ts'
import { startScript } from '../test/helpers/deployment.ts'
import { fixedOrigin, median, otherTree } from './lib.ts'

const ROOT = join(import.meta.dirname, '..')
const rev = process.argv[2] ?? 'HEAD~1'
const tree = otherTree(rev, 'instructions')
const { commit, scratch } = tree
const other = tree.root
const origin = await fixedOrigin()
const originUrl = origin.url
const body = Buffer.alloc(1024, 'x')
const N = Number(process.env.BENCH_BATCH_REQUESTS ?? 1000)
const BATCHES = Number(process.env.BENCH_BATCHES ?? 5)
const WARMUP = 1500
/** More node flags for both sides, e.g. BENCH_NODE_FLAGS=--max-semi-space-size=64 to make scavenges rarer. */
const EXTRA_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)

interface Side {
  readonly port: number
  readonly child: ChildProcess
  readonly dir: string
  readonly agent: Agent
}

async function start(root: string, name: string): Promise<Side> {
  const { env: runtimeEnv, nodeArgs } = startScript()
  const dir = join(scratch, name)
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--smc-check=all-non-file',
      '--instr-atstart=no',
      `--callgrind-out-file=${join(dir, 'cg.out')}`,
      process.execPath,
      ...nodeArgs,
      ...EXTRA_NODE_FLAGS,
      join(root, 'src', 'main.ts'),
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        ...runtimeEnv,
        CACHECAR_PORT: String(port),
        CACHECAR_DB_PATH: join(dir, 'db', 'cachecar.db'),
        CACHECAR_UPSTREAMS: `api=${originUrl}`,
        CACHECAR_SWEEP_INTERVAL_MS: '1h',
        CACHECAR_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', openSync(join(dir, 'valgrind.log'), 'w')],
    },
  )
  const side = { port, child, dir, agent: new Agent({ keepAlive: true, maxSockets: 1 }) }
  for (let i = 0; i < 240; i++) {
    if ((await send(side, 'GET', '/healthz').catch(() => 0)) === 200) return side
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  child.kill()
  throw new Error(
    `${name} did not start under valgrind within 2 minutes:\n${readFileSync(join(dir, 'valgrind.log'), 'utf8').slice(-2000)}`,
  )
}

function send(side: Side, method: string, path: string, data?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: side.port, method, path, agent: side.agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(data)
  })
}

async function sessionOf(side: Side): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${side.port}/v1/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data: { blob: 'x'.repeat(1000) } }),
  })
  return ((await response.json()) as { id: string }).id
}

/** Instructions per request of each batch, for each path. */
async function measure(side: Side, paths: readonly string[]): Promise<number[][]> {
  const pid = String(side.child.pid)
  for (const path of paths) for (let i = 0; i < WARMUP; i++) await send(side, 'GET', path)
  const perPath: number[][] = []
  for (const path of paths) {
    const batches: number[] = []
    for (let batch = 0; batch < BATCHES; batch++) {
      execFileSync('callgrind_control', ['-i', 'on', pid], { stdio: 'ignore' })
      for (let i = 0; i < N; i++) await send(side, 'GET', path)
      execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' })
      execFileSync('callgrind_control', ['-i', 'off', pid], { stdio: 'ignore' })
      const newest = readdirSync(side.dir)
        .filter((f) => f.startsWith('cg.out'))
        .map((f) => join(side.dir, f))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!
      batches.push(Number(/^totals: (\d+)/m.exec(readFileSync(newest, 'utf8'))?.[1]) / N)
    }
    perPath.push(batches)
  }
  return perPath
}

async function run(root: string, name: string): Promise<number[][]> {
  const side = await start(root, name)
  try {
    await send(side, 'GET', '/u/api/hit')
    await send(side, 'PUT', '/v1/kv/app/k0', body)
    const session = await sessionOf(side)
    return await measure(side, ['/u/api/hit', '/v1/kv/app/k0', `/v1/sessions/${session}?touch=false`])
  } finally {
    side.agent.destroy()
    side.child.kill('SIGTERM')
    await new Promise((resolve) => side.child.once('exit', resolve))
  }
}

try {
  // One side at a time: valgrind runs a process on one core, and the counts do not depend on timing anyway.
  const mine = await run(ROOT, 'this')
  const theirs = await run(other, 'other')
  console.log(
    `instructions per request, this tree / ${commit}: ${BATCHES} batches of ${N} sequential keep-alive requests per path`,
  )
  console.log('| path | this (median) | other (median) | ratio (median of paired batches) | per-batch ratios |')
  console.log('|---|---|---|---|---|')
  for (const [i, label] of ['proxy hit 1 KiB', 'key/value GET 1 KiB', 'session GET (1 KiB data)'].entries()) {
    const ratios = mine[i]!.map((count, batch) => count / theirs[i]![batch]!)
    console.log(
      `| ${label} | ${Math.round(median(mine[i]!))} | ${Math.round(median(theirs[i]!))} | **${median(ratios).toFixed(3)}** | ${ratios.map((r) => r.toFixed(3)).join(' ')} |`,
    )
  }
} finally {
  origin.close()
  tree.remove()
}
