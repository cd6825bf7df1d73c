// Load generator, run as its own process so it does not share an event loop with the server under test.
// Usage: node bench/load.ts '<json options>'; prints one JSON line with throughput and latency.
import autocannon from 'autocannon'

interface LoadOptions {
  url: string
  method: 'GET' | 'PUT'
  durationS: number
  connections: number
  /** Requests rotate over this many keys: /…/k0 … /…/k{n-1}. */
  keys: number
  bodyBytes?: number
}

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions
const body = options.bodyBytes ? Buffer.alloc(options.bodyBytes, 120) : undefined
let next = 0

const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.durationS,
  requests: [{
    method: options.method,
    ...(body && { body, headers: { 'content-type': 'application/octet-stream' } }),
    setupRequest: (request) => ({ ...request, path: `${request.path ?? ''}/k${next++ % options.keys}` }),
  }],
})

console.log(JSON.stringify({
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  errors: result.errors + result.timeouts,
  non2xx: result.non2xx,
  total: result.requests.total,
}))
