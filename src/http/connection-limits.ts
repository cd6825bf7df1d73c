// Bounds on what one connection can make cachecar hold: pipelined requests are answered one at a time, and a response
// whose client stops reading is cut after a while instead of being held in memory until the client goes.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

type Listener = (req: IncomingMessage, res: ServerResponse) => void

/**
 * Node parses every pipelined request it has received and runs the handler for each at once, queueing the answers in
 * memory until the client reads (30 GETs of an 8 MB value held 188 MiB). Node gives a response its socket only when
 * the answers before it on the connection are done; here a request is handled only then, so a connection holds at
 * most one answer beyond its socket buffer (and Node stops reading a connection whose output is backed up). The
 * usual, unpipelined request already has its socket and pays one property read.
 */
export function oneAnswerAtATime(listener: Listener): Listener {
  return function answerInTurn(req, res) {
    if (res.socket) listener(req, res)
    else res.once('socket', () => listener(req, res))
  }
}

/**
 * Cuts connections that have bytes of a response queued and have written none of them for `timeoutMs`: Node's request
 * and keep-alive timeouts do not cover a response in progress, so a client that never reads held its answer forever.
 * Checked every `timeoutMs / 4` (at most every second) over the open connections (an idle one has nothing queued).
 */
export function cutStalledSends(
  connections: ReadonlySet<Socket>,
  timeoutMs: number,
  now: () => number = Date.now,
): () => void {
  const progress = new WeakMap<Socket, { written: number; since: number }>()
  const timer = setInterval(
    () => {
      const at = now()
      for (const socket of connections) {
        if (socket.destroyed) continue
        const seen = progress.get(socket)
        if (socket.writableLength === 0 || !seen || seen.written !== socket.bytesWritten) {
          progress.set(socket, { written: socket.bytesWritten, since: at })
        } else if (at - seen.since >= timeoutMs) {
          socket.destroy()
        }
      }
    },
    Math.max(10, Math.min(1000, timeoutMs / 4)),
  )
  timer.unref()
  return () => clearInterval(timer)
}
