// Bearer-token check for /v1 routes, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { Problem } from './problem.ts'

/** Hashing both sides first gives equal-length buffers, so neither length nor content leaks through timing. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** Checks an Authorization field against `token`; throws the 401 problem when it does not carry it. */
export function bearerCheck(token: string): (authorization: string | undefined) => void {
  const expected = digest(token)
  return function checkBearer(authorization) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '')
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new Problem({
        kind: 'unauthorized',
        status: 401,
        title: 'Unauthorized',
        detail: match ? 'the bearer token is wrong' : 'this route requires Authorization: Bearer <token>',
        headers: { 'www-authenticate': 'Bearer realm="cachecar"' },
      })
    }
  }
}

export function bearerAuth(token: string): MiddlewareHandler {
  const check = bearerCheck(token)
  return async function bearerAuthMiddleware(c, next) {
    check(c.req.header('authorization'))
    await next()
  }
}
