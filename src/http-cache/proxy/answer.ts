// What the proxy hands back for one request: a reply to write, or word that it was already written (streamed).
import type { Reply } from '../../http/reply.ts'

export type { Reply } from '../../http/reply.ts'

/** The answer was streamed to the Node response as it arrived from the upstream. */
export const SENT = Symbol('sent')

export type Answer = Reply | typeof SENT
