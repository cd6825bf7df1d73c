// Bearer-token check for /v1 routes, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { Problem } from './problem.ts'

/** Hashing both sides first gives equal-length buffers, so neither length nor content leaks through timing. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function bearerAuth(token: string): MiddlewareHandler {
  const expected = digest(token)
  return async function bearerAuthMiddleware(c, next) {
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer +(\S+) *$/i.exec(header)
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new Problem({
        kind: 'unauthorized',
        status: 401,
        title: 'Unauthorized',
        detail: match ? 'the bearer token is wrong' : 'this route requires Authorization: Bearer <token>',
        headers: { 'www-authenticate': 'Bearer realm="cachecar"' },
      })
    }
    await next()
  }
}
