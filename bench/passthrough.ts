// The miss-path baseline: Hono + an undici Pool forwarding every request to the origin, with no cache at all.
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { Pool } from 'undici'

const origin = process.env.ORIGIN_URL ?? ''
const pool = new Pool(origin, { connections: 64 })
const app = new Hono()
app.get('/*', async (c) => {
  const url = c.req.url
  const path = url.slice(url.indexOf('/', url.indexOf('//') + 2))
  const response = await pool.request({ method: 'GET', path })
  const headers = new Headers()
  for (const [name, value] of Object.entries(response.headers)) {
    if (typeof value === 'string' && name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding')
      headers.set(name, value)
  }
  return new Response(Buffer.from(await response.body.arrayBuffer()), { status: response.statusCode, headers })
})
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(JSON.stringify({ event: 'listening', host: '127.0.0.1', port: info.port }))
})
process.on('SIGTERM', () => process.exit(0))
