// The soak's latency probe: a few dozen requests a second for cached ≤ 64 KiB responses, timed from a process whose
// event loop is otherwise idle. The load generator's own loop runs 20-30 ms behind at 1,000 req/s of 1 KiB-1 MiB
// bodies on two cores, a floor under every latency it measures; this client's is the machine's scheduling alone
// (measured 3-8 ms at p99 under the soak, even at nice 0), and it reports it beside its hit p99.
// With PROBE_REFERENCE (a soak-origin serving the same bytes from memory, idle otherwise), each tick also times the
// same object from it: the latency any server gets on this machine under this load, the floor for cachecar's hits.
// Env: PROBE_TARGET (cachecar's URL), PROBE_REFERENCE, PROBE_RATE (req/s, default 50), PROBE_DURATION_MS.
// Prints one PROBE {json} line.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { bodyOf } from './soak-bodies.ts'

const target = process.env.PROBE_TARGET ?? ''
const reference = process.env.PROBE_REFERENCE
const rate = Number(process.env.PROBE_RATE ?? 50)
const durationMs = Number(process.env.PROBE_DURATION_MS ?? 60_000)
const KiB = 1024
const SIZES = [1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB]
// Their own URLs with a long TTL: once warm they stay hits unless evicted (they are read often, so rarely).
const paths = Array.from({ length: 40 }, (_, i) => `/u/origin/obj/probe${i}?size=${SIZES[i % SIZES.length]}&ttl=3600`)
const client = new Agent({ connections: 8, keepAliveTimeout: 30_000 })

const result = {
  requests: 0,
  hits: 0,
  notHits: 0,
  mismatched: 0,
  errors: 0,
  hitLatencies: [] as number[],
  referenceLatencies: [] as number[],
  loopP99Ms: 0,
  examples: [] as string[],
}

/** GETs `path` from cachecar, or the same object from the reference server, and checks the body. */
async function get(path: string, from: 'cachecar' | 'reference' = 'cachecar'): Promise<{ ms: number; hit: boolean }> {
  const url = from === 'cachecar' ? target + path : reference + path.slice('/u/origin'.length)
  const started = performance.now()
  const response = await request(url, { dispatcher: client, headersTimeout: 10_000, bodyTimeout: 10_000 })
  const body = Buffer.from(await response.body.arrayBuffer())
  const ms = performance.now() - started
  const size = Number(new URL(path, 'http://x').searchParams.get('size'))
  const expected = bodyOf(size)
  if (response.statusCode !== 200 || response.headers['x-sha256'] !== expected.sha || !body.equals(expected.body)) {
    result.mismatched++
    if (result.examples.length < 5) result.examples.push(`${response.statusCode} ${body.length} bytes on ${url}`)
  }
  return { ms, hit: String(response.headers['cache-status'] ?? '').startsWith('cachecar; hit') }
}

for (const path of paths) await get(path) // warm: these are misses
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
let inFlight = 0
const started = performance.now()
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    if (performance.now() - started >= durationMs) {
      clearInterval(timer)
      resolve()
      return
    }
    if (inFlight >= 50) return
    inFlight++
    result.requests++
    get(paths[result.requests % paths.length]!)
      .then(
        ({ ms, hit }) => {
          if (hit) {
            result.hits++
            result.hitLatencies.push(ms)
          } else result.notHits++
        },
        () => {
          result.errors++
        },
      )
      .finally(() => {
        inFlight--
      })
    if (!reference) return
    inFlight++
    get(paths[result.requests % paths.length]!, 'reference')
      .then(
        ({ ms }) => {
          result.referenceLatencies.push(ms)
        },
        () => {
          result.errors++
        },
      )
      .finally(() => {
        inFlight--
      })
  }, 1000 / rate)
})
while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 20))
loop.disable()
// The histogram holds the time between runs of the 10 ms timer: its lateness is that minus the period.
result.loopP99Ms = Math.max(0, loop.percentile(99) / 1e6 - 10)
await client.close()
console.log(`PROBE ${JSON.stringify(result)}`)
