// The baseline: bare Hono on @hono/node-server answering the same routes with the same bytes from a Map.
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const values = new Map<string, Uint8Array>()
const app = new Hono()

app.get('/v1/kv/:namespace/:key', (c) => {
  const value = values.get(c.req.param('key'))
  if (!value) return c.body(null, 404)
  return c.body(value as Uint8Array<ArrayBuffer>, 200, {
    'content-type': 'application/octet-stream',
    etag: '"baseline-etag-of-27-characters"',
    'cache-control': 'max-age=3600',
    age: '0',
  })
})

app.put('/v1/kv/:namespace/:key', async (c) => {
  const key = c.req.param('key')
  const existed = values.has(key)
  values.set(key, new Uint8Array(await c.req.arrayBuffer()))
  return c.body(null, existed ? 204 : 201, { etag: '"baseline-etag-of-27-characters"' })
})

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(JSON.stringify({ event: 'listening', host: '127.0.0.1', port: info.port }))
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
