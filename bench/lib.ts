// Shared benchmark helpers: bounded load runs from a separate process, paired comparisons, small probes.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Child } from '../test/helpers/process.ts'
import type { LoadResult } from './load.ts'

export const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 3)
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const here = import.meta.dirname

/** How a load run goes beyond its URL, method and key count; every field has a default. */
export interface LoadRun {
  readonly durationS?: number
  /** A body of this many bytes of filler (PUT). */
  readonly bodyBytes?: number | undefined
  readonly connections?: number
  /** Rotate over these paths instead of /…/k0 … /…/k{keys-1}. */
  readonly paths?: string[]
  /** A fixed text body (JSON for PATCH). */
  readonly body?: string
  /** Every request names a path no earlier run named: true misses. */
  readonly fresh?: boolean
}

export function load(
  url: string,
  method: 'GET' | 'PUT' | 'PATCH',
  keys: number,
  { durationS = DURATION_S, bodyBytes, connections = CONNECTIONS, ...extra }: LoadRun = {},
): LoadResult {
  const options = JSON.stringify({
    url,
    method,
    keys,
    durationS,
    connections,
    ...(bodyBytes && { bodyBytes }),
    ...extra,
  })
  const out = execFileSync(process.execPath, [join(here, 'load.ts'), options], {
    encoding: 'utf8',
    timeout: (durationS + 30) * 1000,
  })
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult
  if (result.errors > 0 || result.non2xx > 0)
    throw new Error(`${method} ${url}: ${result.errors} errors, ${result.non2xx} non-2xx`)
  return result
}

/**
 * POST with one retry: an idle keep-alive socket may be closed by the server just as the client reuses it. The answer
 * is read whole before it returns, so the connection goes back to the pool: answers left unread made undici open a
 * new connection for every POST, and the spares it left idle were closed by the server's headers timeout.
 */
export async function post(url: string, body: string): Promise<Response> {
  const send = async () => {
    const response = await fetch(url, { method: 'POST', body })
    return new Response(await response.arrayBuffer(), { status: response.status, headers: response.headers })
  }
  try {
    return await send()
  } catch {
    return send()
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export async function fill(base: string, namespace: string, count: number, bytes: number, ttl: number): Promise<void> {
  const value = 'x'.repeat(bytes)
  for (let start = 0; start < count; start += 1000) {
    const set = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({ key: `k${start + i}`, value, ttl }))
    const response = await post(`${base}/v1/kv/${namespace}/_bulk`, JSON.stringify({ set }))
    if (!response.ok) throw new Error(`fill failed: ${response.status} ${await response.text()}`)
  }
}

export async function fillBare(base: string, namespace: string, count: number, bytes: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await fetch(`${base}/v1/kv/${namespace}/k${i}`, { method: 'PUT', body: 'x'.repeat(bytes) })
}

export async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.split(' ')[1]) : 0
}

export function rssMiB(child: Child): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${child.process.pid}/status`, 'utf8')
  const kib = (field: string) =>
    Number(/(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(field)) ?? '')?.[1] ?? 0)
  return { rss: kib('VmRSS:') / 1024, peak: kib('VmHWM:') / 1024 }
}

/** Runs two sides alternately for ROUNDS rounds; returns their median req/s, the median of per-round ratios and b's worst p99. */
export function compare(
  runA: () => LoadResult,
  runB: () => LoadResult,
): { a: number; b: number; ratio: number; ratios: number[]; p99: number; totalA: number; totalB: number } {
  const a: number[] = []
  const b: number[] = []
  let p99 = 0
  let totalA = 0
  let totalB = 0
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which side goes first, so drift on a shared machine hits both alike; pair each round.
    const first = round % 2 === 0 ? [runA, runB] : [runB, runA]
    for (const run of first) {
      const result = run()
      if (run === runA) {
        a.push(result.rps)
        totalA += result.total
      } else {
        b.push(result.rps)
        totalB += result.total
        p99 = Math.max(p99, result.p99)
      }
    }
  }
  const ratios = b.map((rps, i) => rps / a[i]!)
  return { a: median(a), b: median(b), ratio: median(ratios), ratios, p99, totalA, totalB }
}

export function compareRow(name: string, c: ReturnType<typeof compare>, target: number): string {
  return `| ${name} | ${Math.round(c.a)} | ${Math.round(c.b)} | **${c.ratio.toFixed(2)}×** | ${c.ratios.map((r) => r.toFixed(2)).join(' ')} | ≥ ${target}× ${c.ratio >= target ? '✓' : '✗'} | ${c.p99.toFixed(1)} |`
}

export const COMPARE_HEADER = [
  '| scenario | baseline req/s | cachecar req/s | ratio (median of rounds) | per-round ratios | target | cachecar p99 ms |',
  '|---|---|---|---|---|---|---|',
]

/** An origin on 127.0.0.1 answering every request with the same 1 KiB, fresh for an hour: the hot paths' upstream. */
export async function fixedOrigin(): Promise<{ url: string; close: () => void }> {
  const body = Buffer.alloc(1024, 'x')
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-type': 'text/plain' })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }
}

/** A checkout of `rev` beside this one (a git worktree sharing this node_modules), for side-by-side runs. */
export function otherTree(
  rev: string,
  label: string,
): { commit: string; root: string; scratch: string; remove: () => void } {
  const root = join(here, '..')
  const commit = execFileSync('git', ['rev-parse', '--short', rev], { cwd: root, encoding: 'utf8' }).trim()
  const scratch = mkdtempSync(join(tmpdir(), `cachecar-${label}-`))
  const tree = join(scratch, 'tree')
  execFileSync('git', ['worktree', 'add', '--detach', tree, commit], { cwd: root, stdio: 'ignore' })
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'))
  return {
    commit,
    root: tree,
    scratch,
    remove() {
      execFileSync('git', ['worktree', 'remove', '--force', tree], { cwd: root, stdio: 'ignore' })
      rmSync(scratch, { recursive: true, force: true })
    },
  }
}
