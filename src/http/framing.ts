// Refuses message framing a recipient could read differently (RFC 9112 §6.1, §6.3): the request-smuggling seam.
import type { MiddlewareHandler } from 'hono'
import { Problem } from './problem.ts'

/**
 * Node's parser already answers 400 to Content-Length with Transfer-Encoding, duplicate Content-Length and folded
 * fields, but lets an unknown transfer coding (e.g. "xchunked") through with a body that lasts until the connection
 * closes. Only plain "chunked" is accepted here; anything else is refused before it can be forwarded.
 */
export const rejectAmbiguousFraming: MiddlewareHandler = async function rejectAmbiguousFraming(c, next) {
  const te = c.req.header('transfer-encoding')
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    throw new Problem({
      kind: 'bad-framing', status: 400, title: 'Bad request framing',
      detail: `Transfer-Encoding must be "chunked" alone, got ${JSON.stringify(te)}`, headers: { connection: 'close' },
    })
  }
  await next()
}
