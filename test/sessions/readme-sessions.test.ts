// The README's session example, exactly as the README shows it, against a real cachecar and hostile cookies: no
// cookie can turn the example's session requests into another cachecar route.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar } from '../helpers/cachecar.ts'
import { ROOT } from '../helpers/deployment.ts'

const SNIPPET = join(ROOT, 'examples', 'readme-sessions.ts')

test('the README shows examples/readme-sessions.ts verbatim', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  assert.ok(
    readme.includes(`\`\`\`ts\n${readFileSync(SNIPPET, 'utf8')}\`\`\``),
    'README.md and examples/readme-sessions.ts differ',
  )
})

test('hostile session cookies never reach another cachecar route through the README example', async () => {
  const car = await startCachecar({})
  process.env.CACHECAR_URL = car.url
  try {
    const { sessionApp } = await import('../../examples/readme-sessions.ts')
    const app = sessionApp(async (c) => ({ id: c.req.query('user') ?? 'nobody', roles: ['reader'] }))
    for (const key of ['a', 'b'])
      assert.is((await fetch(`${car.url}/v1/kv/app/${key}`, { method: 'PUT', body: 'kept' })).status, 201)
    const login = await app.request('/login?user=ada', { method: 'POST' })
    const sid = /sid=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1]!
    assert.is(
      (await app.request('/app/home', { headers: { cookie: `sid=${sid}` } })).status,
      404,
      'a real session passes the guard',
    )
    const hostile = [
      '../kv/app?prefix=',
      '..%2Fkv%2Fapp%3Fprefix%3D',
      '../../v1/kv/app?prefix=',
      `${sid}/../../kv/app?prefix=`,
      '%2e%2e/kv/app?prefix=',
      `${'a'.repeat(42)}/`,
      `${sid}?touch=false`,
      `../sessions?subject=ada`,
    ]
    for (const cookie of hostile) {
      for (const path of ['/logout', '/app/home']) {
        const answer = await app.request(path, {
          method: path === '/logout' ? 'POST' : 'GET',
          headers: { cookie: `sid=${encodeURIComponent(cookie)}` },
        })
        assert.is(answer.status, 302, `${path} with sid=${cookie}`)
        assert.is(answer.headers.get('location'), '/login')
      }
    }
    const listing = (await (await fetch(`${car.url}/v1/kv/app?prefix=`)).json()) as { items: unknown[] }
    assert.is(listing.items.length, 2, 'a hostile cookie emptied the namespace')
    assert.is(
      (await fetch(`${car.url}/v1/sessions/${sid}?touch=false`)).status,
      200,
      'a hostile cookie ended the real session',
    )
    assert.is((await app.request('/logout', { method: 'POST', headers: { cookie: `sid=${sid}` } })).status, 302)
    assert.is((await fetch(`${car.url}/v1/sessions/${sid}`)).status, 404, 'logout ends the real session')
  } finally {
    delete process.env.CACHECAR_URL
    await car.shutdown()
  }
})

test.run()
