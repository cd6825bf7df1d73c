// The upstream for proxy benchmarks: fixed bytes with max-age=3600 and a Content-Length (/chunked/*: without one);
// /slow/* waits 200 ms; /count reports requests.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const small = Buffer.alloc(1024, 97)
const large = Buffer.alloc(64 * 1024, 98)
const counts = new Map<string, number>()

const server = createServer((req, res) => {
  const url = req.url ?? '/'
  if (url.startsWith('/count')) {
    const prefix = new URL(url, 'http://x').searchParams.get('prefix') ?? ''
    let n = 0
    for (const [path, count] of counts) if (path.startsWith(prefix)) n += count
    res.end(JSON.stringify({ count: n }))
    return
  }
  counts.set(url, (counts.get(url) ?? 0) + 1)
  const body = url.startsWith('/large') ? large : small
  const send = () => {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'max-age=3600',
      ...(!url.startsWith('/chunked') && { 'content-length': body.length }),
    })
    res.end(body)
  }
  if (url.startsWith('/slow')) setTimeout(send, 200)
  else send()
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', host: '127.0.0.1', port: (server.address() as AddressInfo).port }))
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
