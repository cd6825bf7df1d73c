// Load generator, run as its own process so it never shares an event loop with the server under test.
// Uses wrk (C, far cheaper per request, so the server rather than the client is the bottleneck on 2 cores)
// when it is installed, else autocannon. Usage: node bench/load.ts '<json options>'; prints one JSON line.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'

export interface LoadOptions {
  url: string
  method: 'GET' | 'PUT' | 'PATCH'
  /** Rotate over these paths instead of /…/k0 … /…/k{keys-1}. */
  paths?: string[]
  /** A fixed text body (JSON for PATCH), instead of bodyBytes of filler. */
  body?: string
  durationS: number
  connections: number
  /** Requests rotate over this many keys: /…/k0 … /…/k{n-1}. */
  keys: number
  /** Every request names a path no earlier run named (/…/r<nonce>-k<i>): true misses, run after run. */
  fresh?: boolean
  bodyBytes?: number
}

export interface LoadResult {
  rps: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  total: number
  tool: string
}

const WRK = '/usr/bin/wrk'
// Distinguishes this run's fresh paths from every other run's (wrk's and autocannon's counters restart at 0).
const runNonce = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

/** What each key's path segment starts with: k0, k1 … or, for fresh runs, r<nonce>-k0 … */
const keyPrefix = (o: LoadOptions) => (o.fresh ? `r${runNonce}-k` : 'k')

function wrkScript(o: LoadOptions, path: string): string {
  return `
local i = 0
local body = ${o.body !== undefined ? JSON.stringify(o.body) : o.bodyBytes ? `string.rep("x", ${o.bodyBytes})` : 'nil'}
local headers = { ["content-type"] = "${o.body !== undefined ? 'application/json' : 'application/octet-stream'}" }
local paths = { ${(o.paths ?? []).map((p) => JSON.stringify(p)).join(', ')} }
request = function()
  i = i + 1
  if #paths > 0 then return wrk.format("${o.method}", paths[(i % #paths) + 1], headers, body) end
  return wrk.format("${o.method}", "${path}/${keyPrefix(o)}" .. (i % ${o.keys}), headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"total":%d,"durationUs":%d,"p50":%.3f,"p99":%.3f,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
`
}

function runWrk(o: LoadOptions): LoadResult {
  const url = new URL(o.url)
  const dir = mkdtempSync(join(tmpdir(), 'cachecar-wrk-'))
  try {
    const script = join(dir, 'load.lua')
    writeFileSync(script, wrkScript(o, url.pathname))
    const out = execFileSync(
      WRK,
      ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--timeout', '10s', '-s', script, `${url.origin}/`],
      { encoding: 'utf8', timeout: (o.durationS + 30) * 1000 },
    )
    const line = out.split('\n').find((l) => l.startsWith('RESULT '))
    if (!line) throw new Error(`wrk printed no result:\n${out}`)
    const r = JSON.parse(line.slice(7)) as {
      total: number
      durationUs: number
      p50: number
      p99: number
      errors: number
      non2xx: number
    }
    return {
      rps: r.total / (r.durationUs / 1e6),
      p50: r.p50,
      p99: r.p99,
      errors: r.errors,
      non2xx: r.non2xx,
      total: r.total,
      tool: 'wrk',
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function runAutocannon(o: LoadOptions): Promise<LoadResult> {
  const body = o.body !== undefined ? Buffer.from(o.body) : o.bodyBytes ? Buffer.alloc(o.bodyBytes, 120) : undefined
  let next = 0
  const result = await autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.durationS,
    requests: [
      {
        method: o.method,
        ...(body && { body, headers: { 'content-type': 'application/octet-stream' } }),
        setupRequest: (request) => ({
          ...request,
          path: o.paths?.length
            ? o.paths[next++ % o.paths.length]!
            : `${request.path ?? ''}/${keyPrefix(o)}${next++ % o.keys}`,
        }),
      },
    ],
  })
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
    tool: 'autocannon',
  }
}

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions
const useWrk = process.env.BENCH_LOAD !== 'autocannon' && existsSync(WRK)
console.log(JSON.stringify(useWrk ? runWrk(options) : await runAutocannon(options)))
