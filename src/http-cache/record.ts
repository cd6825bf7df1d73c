// The bytes a stored response is kept as: a JSON head (facts, headers) then the body, sliced without copying.
import type { HeaderList } from './headers.ts'
import type { ResponseFacts } from './policy/policy.ts'

export interface StoredResponse {
  readonly facts: ResponseFacts
  readonly headers: HeaderList
  readonly body: Uint8Array
}

/** Fields recomputed on every reuse, so never replayed from the stored list. */
const RECOMPUTED = new Set(['age', 'content-length', 'cache-status'])
const replayFields = new WeakMap<StoredResponse, Record<string, string | string[]>>()

/**
 * The stored fields as a plain object, built once per stored response. Repeated fields are joined with ", ", except
 * Set-Cookie, which cannot be (RFC 6265 §3): a stored response never holds one, but the answer to a 304 that set a
 * cookie carries them, one line each.
 */
export function replayHeaders(response: StoredResponse): Record<string, string | string[]> {
  let fields = replayFields.get(response)
  if (!fields) {
    fields = headerObject(response.headers, RECOMPUTED)
    replayFields.set(response, fields)
  }
  return fields
}

/** A header list as an object for writeHead: repeated fields joined with ", ", Set-Cookie kept as separate lines. */
export function headerObject(list: HeaderList, skip?: ReadonlySet<string>): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {}
  for (const [name, value] of list) {
    if (skip?.has(name)) continue
    const current = fields[name]
    if (name === 'set-cookie') fields[name] = current === undefined ? [value] : [...current, value]
    else fields[name] = current === undefined ? value : `${String(current)}, ${value}`
  }
  return fields
}

export const RESPONSE_TYPE = 'application/x-cachecar-response'
export const VARY_TYPE = 'application/x-cachecar-vary'

/** Records built in place by preallocate(), so encoding them again copies nothing. */
const encoded = new WeakMap<StoredResponse, Buffer>()

/**
 * Allocates the stored record for a body of `bodyLength` bytes with its head written; the body's bytes are then
 * written straight into `body`, and `finish` names the complete response (a 1 MiB miss is copied once, not thrice).
 */
export function preallocate(
  head: Omit<StoredResponse, 'body'>,
  bodyLength: number,
): { body: Uint8Array; finish(): StoredResponse } {
  const headBytes = Buffer.from(JSON.stringify({ facts: head.facts, headers: head.headers }))
  const record = Buffer.allocUnsafe(4 + headBytes.byteLength + bodyLength)
  record.writeUInt32BE(headBytes.byteLength, 0)
  headBytes.copy(record, 4)
  const body = record.subarray(4 + headBytes.byteLength)
  return {
    body,
    finish() {
      const response = { ...head, body }
      encoded.set(response, record)
      return response
    },
  }
}

export function encodeResponse(response: StoredResponse): Buffer {
  const built = encoded.get(response)
  if (built) return built
  const head = Buffer.from(JSON.stringify({ facts: response.facts, headers: response.headers }))
  const out = Buffer.allocUnsafe(4 + head.byteLength + response.body.byteLength)
  out.writeUInt32BE(head.byteLength, 0)
  head.copy(out, 4)
  out.set(response.body, 4 + head.byteLength)
  return out
}

const decoded = new WeakMap<Uint8Array, StoredResponse>()

/** Decodes a stored value; the result is memoised per buffer, so hot-tier hits parse the head once. */
export function decodeResponse(value: Uint8Array): StoredResponse {
  const cached = decoded.get(value)
  if (cached) return cached
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  const headLength = bytes.readUInt32BE(0)
  const head = JSON.parse(bytes.subarray(4, 4 + headLength).toString('utf8')) as Omit<StoredResponse, 'body'>
  const response = { ...head, body: value.subarray(4 + headLength) }
  decoded.set(value, response)
  return response
}
