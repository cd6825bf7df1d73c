// The example app container, run as a real process against a real cachecar: cookie sessions, memoisation, proxy.
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar } from '../helpers/cachecar.ts'
import { ROOT } from '../helpers/deployment.ts'
import { startChild } from '../helpers/process.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

test('the example app logs in with a cookie session, memoises in the KV cache and reads an upstream through the proxy', async () => {
  const weather = await fakeUpstream((req, res) => {
    // The route Open-Meteo serves: /v1/forecast with coordinates.
    const url = new URL(req.url ?? '/', 'http://upstream')
    res.writeHead(url.pathname === '/v1/forecast' ? 200 : 404, { 'cache-control': 'max-age=600' })
    res.end(`sunny at ${url.searchParams.get('latitude')},${url.searchParams.get('longitude')}`)
  })
  const car = await startCachecar({ CACHECAR_UPSTREAMS: `weather=${weather.url}` })
  const app = await startChild(
    { CACHECAR_URL: car.url, PORT: '0' },
    { script: join(ROOT, 'examples', 'app', 'server.ts') },
  )
  try {
    const login = await fetch(`${app.url}/login?user=ada`, { method: 'POST' })
    const cookie = login.headers.get('set-cookie') ?? ''
    assert.match(cookie, /^sid=[A-Za-z0-9_-]{43};/)
    assert.match(cookie, 'HttpOnly')
    assert.match(cookie, 'Secure')
    assert.match(cookie, 'SameSite=Lax')
    const sid = cookie.split(';')[0]!
    assert.is(
      ((await (await fetch(`${app.url}/me`, { headers: { cookie: sid } })).json()) as { user: string }).user,
      'ada',
    )
    assert.is((await fetch(`${app.url}/me`)).status, 401)
    const first = (await (await fetch(`${app.url}/primes/10000`)).json()) as { count: number; cached: boolean }
    const second = (await (await fetch(`${app.url}/primes/10000`)).json()) as { count: number; cached: boolean }
    assert.equal([first.count, first.cached, second.count, second.cached], [1229, false, 1229, true])
    await fetch(`${app.url}/weather/Lisbon`)
    const cached = (await (await fetch(`${app.url}/weather/Lisbon`)).json()) as {
      forecast: string
      cacheStatus: string
    }
    assert.is(cached.forecast, 'sunny at 38.72,-9.14')
    assert.match(weather.received[0]!.url, /^\/v1\/forecast\?latitude=38\.72&longitude=-9\.14&/)
    assert.match(cached.cacheStatus, 'hit')
    assert.is(weather.received.length, 1)
    await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie: sid } })
    assert.is((await fetch(`${app.url}/me`, { headers: { cookie: sid } })).status, 401)
  } finally {
    app.process.kill('SIGTERM')
    await app.exited
    await car.shutdown()
    await weather.close()
  }
})

test.run()
