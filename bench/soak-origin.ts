// The soak's origin: deterministic bodies 1 KiB–1 MiB with their SHA-256 in x-sha256, and faults on /fault/*.
// A process of its own, so serving misses never delays the load generator's clock.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bodyOf } from './soak-bodies.ts'

const origin = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://origin')
  const size = Number(url.searchParams.get('size') ?? 1024)
  const { body, sha } = bodyOf(size)
  const headers = {
    'content-length': String(size),
    'x-sha256': sha,
    'cache-control': `max-age=${url.searchParams.get('ttl') ?? 30}, stale-if-error=60`,
    etag: `"${sha.slice(0, 16)}"`,
  }
  if (url.pathname.startsWith('/fault/reset')) {
    res.writeHead(200, headers)
    res.write(body.subarray(0, size >> 1), () => res.socket?.destroy())
  } else if (url.pathname.startsWith('/fault/503')) res.writeHead(503, { 'content-length': '4' }).end('down')
  else if (url.pathname.startsWith('/fault/hang')) setTimeout(() => res.socket?.destroy(), 3000)
  else if (req.headers['if-none-match'] === headers.etag) res.writeHead(304, headers).end()
  else res.writeHead(200, headers).end(body)
})
origin.keepAliveTimeout = 60_000
origin.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', host: '127.0.0.1', port: (origin.address() as AddressInfo).port }))
})
process.on('SIGTERM', () => {
  origin.closeAllConnections()
  origin.close(() => process.exit(0))
})
