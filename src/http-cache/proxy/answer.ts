// What the proxy hands back for one request: a reply to write, or word that it was already written (streamed).
import type { ServerResponse } from 'node:http'
import { SLICED_BODY_BYTES, endInSlices } from '../../http/slices.ts'

/** A complete answer held in memory: a stored response being reused (problems are thrown, not returned). */
export interface Reply {
  readonly status: number
  /** Set-Cookie, when there is one, as separate lines. */
  readonly headers: Readonly<Record<string, string | string[]>>
  /** null: no body (HEAD, 204, 304). */
  readonly body: Uint8Array | null
}

/** The answer was streamed to the Node response as it arrived from the upstream. */
export const SENT = Symbol('sent')

export type Answer = Reply | typeof SENT

/** Writes a reply: status line, fields and body reach the socket in a single write, unless the body is large. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, reply.headers)
  if (!reply.body) res.end()
  else if (reply.body.byteLength >= SLICED_BODY_BYTES) endInSlices(res, reply.body)
  else res.end(reply.body)
}
