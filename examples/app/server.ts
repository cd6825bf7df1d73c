// Example app container: sessions behind a cookie, memoisation in the KV cache, an upstream through the proxy.
// Run beside cachecar: CACHECAR_URL=http://127.0.0.1:8787 node examples/app/server.ts
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { createClient, isSessionId } from 'cachecar/client'

const cachecar = createClient({ token: process.env.CACHECAR_TOKEN, timeoutMs: 500, failOpen: true })
const app = new Hono()

app.post('/login', async (c) => {
  const user = c.req.query('user')
  if (!user) return c.json({ error: 'user required' }, 400)
  const session = await cachecar.sessions.create({ user, loggedInAt: new Date().toISOString() }, { subject: user })
  setCookie(c, 'sid', session.id, { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' })
  return c.json({ user })
})

app.get('/me', async (c) => {
  const sid = getCookie(c, 'sid')
  // The cookie is the user's input: only cachecar's exact ID shape is ever sent (the client checks it too).
  const session = sid && isSessionId(sid) ? await cachecar.sessions.get<{ user: string }>(sid) : undefined
  if (!session) return c.json({ error: 'logged out' }, 401) // unknown or expired: the task restarted, or it timed out
  return c.json({ user: session.data.user, expiresAt: session.expiresAt })
})

app.post('/logout', async (c) => {
  const sid = getCookie(c, 'sid')
  if (sid && isSessionId(sid)) await cachecar.sessions.destroy(sid)
  deleteCookie(c, 'sid', { path: '/' })
  return c.json({ ok: true })
})

// Memoisation: an expensive result computed once per task and kept for 5 minutes.
app.get('/primes/:n', async (c) => {
  const n = Math.min(Number(c.req.param('n')) || 0, 200_000)
  const cached = await cachecar.kv.get('primes', String(n))
  if (cached) return c.json({ n, count: Number(cached.text()), cached: true })
  let count = 0
  for (let i = 2; i <= n; i++) {
    let prime = true
    for (let d = 2; d * d <= i; d++)
      if (i % d === 0) {
        prime = false
        break
      }
    if (prime) count++
  }
  await cachecar.kv.set('primes', String(n), String(count), { ttl: 300 })
  return c.json({ n, count, cached: false })
})

// An upstream API read through cachecar's HTTP cache: the app only changes its base URL. Open-Meteo's forecast
// endpoint (https://open-meteo.com/en/docs) takes coordinates, not city names.
const CITIES: Record<string, readonly [latitude: number, longitude: number]> = {
  lisbon: [38.72, -9.14],
  london: [51.51, -0.13],
  tokyo: [35.68, 139.69],
}

app.get('/weather/:city', async (c) => {
  const place = CITIES[c.req.param('city').toLowerCase()]
  if (!place) return c.json({ error: `unknown city; try ${Object.keys(CITIES).join(', ')}` }, 404)
  const query = `latitude=${place[0]}&longitude=${place[1]}&current=temperature_2m`
  const response = await fetch(`${cachecar.proxyUrl('weather')}/v1/forecast?${query}`)
  return c.json({ forecast: await response.text(), cacheStatus: response.headers.get('cache-status') })
})

const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST ?? '127.0.0.1' },
  (info) => {
    console.log(JSON.stringify({ event: 'listening', host: '127.0.0.1', port: info.port }))
  },
)
process.on('SIGTERM', () => server.close(() => process.exit(0)))
