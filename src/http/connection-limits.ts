// Bounds on what one connection can make cachecar hold: pipelined requests are answered one at a time, and a response
// whose client stops reading is cut after a while instead of being held in memory until the client goes.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

type Listener = (req: IncomingMessage, res: ServerResponse) => void

/**
 * Node parses every pipelined request it has received and runs the handler for each at once, queueing the answers in
 * memory until the client reads (60 GETs of an 8 MB value held 450 MB). Here a request waits until the answer before
 * it on the same connection is done, so a connection holds at most one answer beyond its socket buffer; Node itself
 * stops reading a connection whose output is backed up.
 */
export function oneAnswerAtATime(listener: Listener): Listener {
  const waiting = new WeakMap<Socket, (() => void)[]>()
  return function answerInTurn(req, res) {
    const socket = req.socket
    const queue = waiting.get(socket)
    const run = () => {
      res.once('close', () => {
        const next = waiting.get(socket)?.shift()
        if (next) next()
        else waiting.delete(socket)
      })
      listener(req, res)
    }
    if (queue) queue.push(run)
    else {
      waiting.set(socket, [])
      run()
    }
  }
}

/**
 * Cuts responses whose socket has bytes queued and has written none of them for `timeoutMs`: Node's request and
 * keep-alive timeouts do not cover a response in progress, so a client that never reads held its answer forever.
 * Checked every `timeoutMs / 4` (at most every second) over the responses in flight.
 */
export function cutStalledSends(inFlight: ReadonlySet<ServerResponse>, timeoutMs: number, now: () => number = Date.now): () => void {
  const progress = new WeakMap<Socket, { written: number; since: number }>()
  const timer = setInterval(() => {
    const at = now()
    for (const res of inFlight) {
      const socket = res.socket
      if (!socket || socket.destroyed) continue
      const seen = progress.get(socket)
      if (socket.writableLength === 0 || !seen || seen.written !== socket.bytesWritten) {
        progress.set(socket, { written: socket.bytesWritten, since: at })
      } else if (at - seen.since >= timeoutMs) {
        socket.destroy()
      }
    }
  }, Math.max(10, Math.min(1000, timeoutMs / 4)))
  timer.unref()
  return () => clearInterval(timer)
}
