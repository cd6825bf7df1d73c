// A complete answer held in memory, and the two ways it leaves: written straight to Node's response (the hot paths:
// proxy hits, key/value and session reads) or handed to Hono (the routes). Both give the same status, fields and body.
import type { ServerResponse } from 'node:http'
import type { Context } from 'hono'
import type { ContentfulStatusCode, StatusCode } from 'hono/utils/http-status'
import { SLICED_BODY_BYTES, endInSlices, pulledStream, slicesOf } from './slices.ts'

export interface Reply {
  readonly status: number
  /** Set-Cookie, when there is one, as separate lines. */
  readonly headers: Readonly<Record<string, string | string[]>>
  /**
   * null: no body (HEAD, 204, 304). A string goes out as UTF-8 in the same write as the status line and fields (Node
   * joins them), cheaper than encoding it first; its content-length counts its bytes.
   */
  readonly body: Uint8Array | string | null
}

/** The answer was streamed to the Node response as it arrived (a proxied response written through). */
export const SENT = Symbol('sent')

/** What a route answered outside Hono hands back: a reply to write, or word that it was already written. */
export type Answer = Reply | typeof SENT

/** Writes a reply: status line, fields and body reach the socket in a single write, unless the body is large. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  const { body } = reply
  // writeHead fixes the framing: a body without a declared length would go chunked.
  res.writeHead(
    reply.status,
    body && !('content-length' in reply.headers) ? withLength(reply.headers, body) : reply.headers,
  )
  if (!body) res.end()
  else if (typeof body === 'string' ? body.length < SLICED_BODY_BYTES / 4 : body.byteLength < SLICED_BODY_BYTES)
    res.end(body)
  else endInSlices(res, typeof body === 'string' ? Buffer.from(body) : body)
}

/** The same reply as a Hono route returns it. */
export function honoReply(c: Context, reply: Reply): Response {
  const { body, headers } = reply
  if (!body) return c.body(null, reply.status as StatusCode, headers)
  const status = reply.status as ContentfulStatusCode
  if (typeof body === 'string') return c.body(body, status, headers)
  if (body.byteLength < SLICED_BODY_BYTES) return c.body(body as Uint8Array<ArrayBuffer>, status, headers)
  return c.body(pulledStream(slicesOf(body)), status, withLength(headers, body))
}

function withLength(headers: Reply['headers'], body: Uint8Array | string): Record<string, string | string[]> {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
  return { ...headers, 'content-length': String(length) }
}
