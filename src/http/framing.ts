// Refuses message framing a recipient could read differently (RFC 9112 §6.1, §6.3): the request-smuggling seam.
import type { MiddlewareHandler } from 'hono'
import { Problem } from './problem.ts'

/**
 * Node's parser already answers 400 to Content-Length with Transfer-Encoding, duplicate Content-Length and folded
 * fields, but lets an unknown transfer coding (e.g. "xchunked") through with a body that lasts until the connection
 * closes. Only plain "chunked" is accepted here; anything else is refused before it can be forwarded.
 */
export const rejectAmbiguousFraming: MiddlewareHandler = async function rejectAmbiguousFraming(c, next) {
  const problem = framingProblem(c.req.header('transfer-encoding'))
  if (problem) throw problem
  await next()
}

/** The 400 for a Transfer-Encoding other than plain "chunked"; undefined when the framing is unambiguous. */
export function framingProblem(transferEncoding: string | undefined): Problem | undefined {
  if (transferEncoding === undefined || transferEncoding.trim().toLowerCase() === 'chunked') return undefined
  return new Problem({
    kind: 'bad-framing',
    status: 400,
    title: 'Bad request framing',
    detail: `Transfer-Encoding must be "chunked" alone, got ${JSON.stringify(transferEncoding)}`,
    headers: { connection: 'close' },
  })
}
