// Reads a request body up to a byte limit: 413 as soon as the limit is crossed, the rest is never buffered.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Context } from 'hono'
import { heavyWork } from '../heavy-work.ts'
import { Problem } from './problem.ts'

export function tooLarge(limit: number, field = 'body'): Problem {
  return new Problem({
    kind: 'payload-too-large',
    status: 413,
    title: 'Payload too large',
    detail: `the ${field} exceeds the limit of ${limit} bytes`,
    extensions: { field, limit },
  })
}

const incompleteBody = () =>
  new Problem({
    kind: 'incomplete-body',
    status: 400,
    title: 'Incomplete body',
    detail: 'the client stopped sending before the body was complete',
  })

/**
 * The body of the request in `c`, at most `limit` bytes. Under @hono/node-server it reads the Node stream
 * directly, skipping the conversion to a web stream (measured: most of a PUT's overhead).
 */
export async function readBody(c: Context, limit: number): Promise<Uint8Array> {
  const declared = Number(c.req.header('content-length')) // NaN without the field: compares false everywhere
  if (declared > limit) throw tooLarge(limit)
  const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined
  return env?.incoming ? readIncoming(env.incoming, env.outgoing, limit, declared) : readWebBody(c.req.raw, limit)
}

/** How long an over-limit body is still read (and discarded) after the 413, before the connection is cut. */
const LINGER_MS = 2000

/**
 * Lingering close, as nginx does it: after refusing a body mid-stream, keep reading and discarding it so the
 * client can read the 413 (closing a socket with unread bytes sends a reset that can destroy the answer), then
 * cut the connection if the body still has not ended. Nothing is buffered meanwhile.
 */
export function lingerThenClose(incoming: IncomingMessage, outgoing: ServerResponse | undefined): void {
  incoming.resume()
  const cut = () => {
    const timer = setTimeout(() => {
      if (!incoming.complete) incoming.socket?.destroy()
    }, LINGER_MS)
    timer.unref()
  }
  if (outgoing && !outgoing.writableFinished) outgoing.once('finish', cut)
  else cut()
}

/** Bodies declared at least this large are read into one buffer of that size: no second copy to join the chunks. */
const PREALLOCATED_BODY_BYTES = 64 * 1024

function readIncoming(
  incoming: IncomingMessage,
  outgoing: ServerResponse | undefined,
  limit: number,
  declared: number,
): Promise<Uint8Array> {
  if (declared >= PREALLOCATED_BODY_BYTES) return readInto(Buffer.allocUnsafe(declared), incoming, outgoing)
  return readChunks(incoming, outgoing, limit)
}

const UPLOAD_TURN_BYTES = 256 * 1024

/** Reads a body of declared length into `body` (Node's parser never passes more bytes than the length declared). */
function readInto(body: Buffer, incoming: IncomingMessage, outgoing: ServerResponse | undefined): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let filled = 0
    let paced = 0
    const cleanup = () => {
      incoming.off('data', onData).off('end', onEnd).off('error', onAbort).off('close', onAbort)
    }
    const onData = (chunk: Buffer) => {
      filled += chunk.copy(body, filled)
      // Heavy work: a large upload is taken in at the pace the event loop can spare (TCP holds the rest), asking for
      // a turn every UPLOAD_TURN_BYTES (every 64 KiB chunk cost an 8 MB PUT 10 ms more on a quiet loop).
      if (filled - paced >= UPLOAD_TURN_BYTES) {
        paced = filled
        incoming.pause()
        void heavyWork.turn().then(() => incoming.resume())
      }
    }
    const onEnd = () => {
      cleanup()
      if (filled === body.byteLength) resolve(body)
      else {
        lingerThenClose(incoming, outgoing)
        reject(incompleteBody())
      }
    }
    const onAbort = () => {
      cleanup()
      reject(incompleteBody())
    }
    incoming.on('data', onData).on('end', onEnd).on('error', onAbort).on('close', onAbort)
  })
}

function readChunks(
  incoming: IncomingMessage,
  outgoing: ServerResponse | undefined,
  limit: number,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const cleanup = () => {
      incoming.off('data', onData).off('end', onEnd).off('error', onAbort).off('close', onAbort)
    }
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength
      if (total > limit) {
        cleanup()
        lingerThenClose(incoming, outgoing)
        reject(tooLarge(limit))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total))
    }
    const onAbort = () => {
      cleanup()
      reject(incompleteBody())
    }
    incoming.on('data', onData).on('end', onEnd).on('error', onAbort).on('close', onAbort)
  })
}

async function readWebBody(request: Request, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = request.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      // The body is refused either way; a stream that fails to cancel has nothing more to give us.
      await reader.cancel().catch(() => {})
      throw tooLarge(limit)
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  return Buffer.concat(chunks, total)
}

/** Parses a JSON body; 400 naming the problem when it is not JSON. */
/** Size and nesting bounds of a JSON request body. */
export interface JsonLimits {
  readonly maxBytes: number
  readonly maxDepth: number
}

/**
 * The body parsed as JSON, within `limits`: too large is 413; nested deeper than maxDepth is 400 before it is parsed
 * (everything recursive downstream, from a merge patch to JSON.stringify, then has a bound; 20,000 levels were a 500).
 */
export async function readJson(c: Context, limits: JsonLimits): Promise<unknown> {
  const bytes = await readBody(c, limits.maxBytes)
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  if (jsonDepth(text) > limits.maxDepth) {
    throw new Problem({
      kind: 'json-too-deep',
      status: 400,
      title: 'JSON nested too deeply',
      detail: `the request body nests arrays and objects more than ${limits.maxDepth} levels deep (CACHECAR_MAX_JSON_DEPTH)`,
      extensions: { limit: limits.maxDepth },
    })
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new Problem({
      kind: 'invalid-json',
      status: 400,
      title: 'Invalid JSON',
      detail: `the request body is not valid JSON: ${(error as Error).message}`,
    })
  }
}

/** The deepest nesting of [ and { outside strings, in one pass without recursion (the text need not be valid JSON). */
export function jsonDepth(text: string): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (inString) {
      if (ch === 0x5c)
        i++ // backslash: the next character is escaped
      else if (ch === 0x22) inString = false
    } else if (ch === 0x22) inString = true
    else if (ch === 0x5b || ch === 0x7b) deepest = Math.max(deepest, ++depth)
    else if (ch === 0x5d || ch === 0x7d) depth--
  }
  return deepest
}
