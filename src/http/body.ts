// Reads a request body up to a byte limit: 413 as soon as the limit is crossed, the rest is never buffered.
import { Problem } from './problem.ts'

export function tooLarge(limit: number, field = 'body'): Problem {
  return new Problem({
    kind: 'payload-too-large', status: 413, title: 'Payload too large',
    detail: `the ${field} exceeds the limit of ${limit} bytes`,
    // The unread rest of the body stays on the socket: close it rather than read it.
    headers: { connection: 'close' }, extensions: { field, limit },
  })
}

export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length')
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit)
  if (!request.body) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = request.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge(limit)
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  return Buffer.concat(chunks, total)
}

/** Parses a JSON body; 400 naming the problem when it is not JSON. */
export async function readJson(request: Request, limit: number): Promise<unknown> {
  const bytes = await readBody(request, limit)
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (error) {
    throw new Problem({
      kind: 'invalid-json', status: 400, title: 'Invalid JSON',
      detail: `the request body is not valid JSON: ${(error as Error).message}`,
    })
  }
}
