import { Hono, type Context } from 'hono'
import { getCookie, setCookie, deleteCookie } from 'hono/cookie'

const CACHECAR = process.env.CACHECAR_URL ?? 'http://127.0.0.1:8787'

// A cookie is the client's input: only cachecar's exact ID shape goes into a URL, encoded. Built from a raw cookie,
// fetch would resolve sid=../kv/app?prefix= into DELETE /v1/kv/app?prefix= and empty a namespace.
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/
const sessionUrl = (sid: string | undefined) =>
  sid !== undefined && SESSION_ID.test(sid) ? `${CACHECAR}/v1/sessions/${encodeURIComponent(sid)}` : undefined

type User = { id: string; roles: string[] }
type Session = { data: { userId: string; roles: string[] } }

export function sessionApp(authenticate: (c: Context) => Promise<User>) {
  const app = new Hono<{ Variables: { session: Session } }>()

  app.post('/login', async (c) => {
    const user = await authenticate(c) // your own check
    const res = await fetch(`${CACHECAR}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { userId: user.id, roles: user.roles }, subject: user.id }),
    })
    const { id } = (await res.json()) as { id: string }
    setCookie(c, 'sid', id, { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' })
    return c.redirect('/')
  })

  app.use('/app/*', async (c, next) => {
    const url = sessionUrl(getCookie(c, 'sid'))
    const res = url ? await fetch(url) : undefined
    if (!res?.ok) return c.redirect('/login') // no session, unknown or expired: logged out
    c.set('session', (await res.json()) as Session)
    await next()
  })

  app.post('/logout', async (c) => {
    const url = sessionUrl(getCookie(c, 'sid'))
    if (url) await fetch(url, { method: 'DELETE' })
    deleteCookie(c, 'sid', { path: '/' })
    return c.redirect('/login')
  })

  return app
}
