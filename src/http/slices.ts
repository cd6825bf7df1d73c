// Large bodies leave in slices, each written once the socket has taken the one before: a client that reads slowly
// (or never) has one slice queued in cachecar instead of the whole body, and an 8 MB answer is copied into the
// socket a slice per turn of the event loop instead of in one stretch while every other request waits (40 stalled
// readers of an 8 MB value tripled the other clients' p99).
import type { ServerResponse } from 'node:http'
import { heavyWork } from '../heavy-work.ts'

/** Bodies at least this large are sliced; smaller ones are written in one go, which is the fastest for hot paths. */
export const SLICED_BODY_BYTES = 256 * 1024

/** Bytes per write: four times the socket's high-water mark, so each write waits for 'drain' and yields once. */
export const SLICE_BYTES = 64 * 1024

/** Ends `res` with `body`, a slice at a time as the client takes them (the status and fields must be set first). */
export function endInSlices(res: ServerResponse, body: Uint8Array): void {
  let offset = 0
  const next = (): void => {
    while (!res.destroyed) {
      const slice = body.subarray(offset, offset + SLICE_BYTES)
      offset += SLICE_BYTES
      if (offset >= body.byteLength) {
        res.end(slice)
        return
      }
      if (!res.write(slice)) {
        res.once('drain', () => void heavyWork.turn().then(next))
        return
      }
    }
  }
  next()
}

/** The slices of `body`, without copying it. */
export function* slicesOf(body: Uint8Array): Generator<Uint8Array> {
  for (let offset = 0; offset < body.byteLength; offset += SLICE_BYTES)
    yield body.subarray(offset, offset + SLICE_BYTES)
}

/**
 * A stream that takes the next piece from `pieces` only when its reader asks for one (a Hono response body) and heavy
 * work has a turn: the adapter asks again on the socket's 'drain', so at most one piece at a time is produced ahead of
 * the client.
 */
export function pulledStream(pieces: Iterator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await heavyWork.turn()
        const piece = pieces.next()
        if (piece.done) controller.close()
        else controller.enqueue(piece.value)
      },
      cancel() {
        pieces.return?.()
      },
    },
    { highWaterMark: 0 },
  )
}
