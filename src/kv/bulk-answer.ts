// The bulk-get answer, streamed. Its exact size is known before a byte is sent (for the 413 and Content-Length);
// then values are encoded a slice at a time as the client reads, so no answer is ever held whole in memory (one
// 10.7 MB answer was about three copies while it was built: string, JSON text, joined parts) and the encoding runs
// between other requests instead of in one stretch.
import { isUtf8 } from 'node:buffer'
import { heavyWork } from '../heavy-work.ts'
import { SLICE_BYTES } from '../http/slices.ts'
import type { Entry } from '../store/types.ts'
import { iso } from './responses.ts'

interface Planned {
  /** JSON text before the value (the whole item when there is no value). */
  readonly head: string
  readonly value?: Uint8Array
  readonly encoding?: 'utf8' | 'base64'
  readonly tail: string
}

export interface BulkAnswer {
  readonly bytes: number
  /** The answer's bytes, in pieces of about SLICE_BYTES, encoded as they are asked for. */
  pieces(): Generator<Uint8Array>
}

/** Plans the answer for `keys` (each asked once) and the entries found for them; undefined when over `limit` bytes. */
export async function planBulkAnswer(
  keys: readonly string[],
  entries: readonly (Entry | undefined)[],
  limit: number,
): Promise<BulkAnswer | undefined> {
  const items: Planned[] = []
  let bytes = '{"items":[]}'.length + Math.max(0, keys.length - 1)
  for (const [i, entry] of entries.entries()) {
    const key = JSON.stringify(keys[i])
    if (!entry) {
      const head = `{"key":${key},"found":false}`
      items.push({ head, tail: '' })
      bytes += Buffer.byteLength(head)
    } else {
      const encoding = isUtf8(entry.value) ? 'utf8' : 'base64'
      const head = `{"key":${key},"found":true,"value":"`
      const tail =
        `","encoding":"${encoding}","contentType":${JSON.stringify(entry.contentType)},` +
        `"etag":${JSON.stringify(entry.etag)},"expiresAt":"${iso(entry.expiresAt)}"}`
      items.push({ head, value: entry.value, encoding, tail })
      bytes += Buffer.byteLength(head) + Buffer.byteLength(tail)
      bytes += encoding === 'base64' ? Math.ceil(entry.value.byteLength / 3) * 4 : await jsonTextBytes(entry.value)
    }
    if (bytes > limit) return undefined
  }
  return { bytes, pieces: () => piecesOf(items) }
}

function* piecesOf(items: readonly Planned[]): Generator<Uint8Array> {
  let pending = '{"items":['
  for (const [i, item] of items.entries()) {
    pending += (i > 0 ? ',' : '') + item.head
    if (item.value) {
      for (const text of encodedSlices(item.value, item.encoding!)) {
        pending += text
        if (pending.length >= SLICE_BYTES) {
          yield Buffer.from(pending)
          pending = ''
        }
      }
    }
    pending += item.tail
  }
  yield Buffer.from(`${pending}]}`)
}

/** Base64 slices are a multiple of 3 bytes (so they join without padding); UTF-8 slices end between characters. */
function* encodedSlices(value: Uint8Array, encoding: 'utf8' | 'base64'): Generator<string> {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  const step = encoding === 'base64' ? SLICE_BYTES - (SLICE_BYTES % 3) : SLICE_BYTES
  for (let start = 0; start < bytes.byteLength; ) {
    let end = Math.min(start + step, bytes.byteLength)
    if (encoding === 'base64') yield bytes.toString('base64', start, end)
    else {
      while (end < bytes.byteLength && (bytes[end]! & 0xc0) === 0x80) end-- // not inside a multi-byte character
      yield JSON.stringify(bytes.toString('utf8', start, end)).slice(1, -1)
    }
    start = end
  }
}

/** Bytes of valid UTF-8 scanned per turn of the event loop by jsonTextBytes (about 1 ms here). */
const SCAN_SLICE_BYTES = 1024 * 1024
/** Sizes already computed: a stored value's bytes are shared by every reader (see ValueFiles.read) and never change. */
const scanned = new WeakMap<Uint8Array, number>()

/**
 * The length of valid UTF-8 `value` as the inside of a JSON string, as JSON.stringify escapes it: `"` and `\` and
 * the short escapes (\b \t \n \f \r) take 2 bytes, other control characters 6 (\u00XX), everything else as is
 * (valid UTF-8 holds no lone surrogates, the only other thing JSON.stringify escapes).
 */
export async function jsonTextBytes(value: Uint8Array): Promise<number> {
  const known = scanned.get(value)
  if (known !== undefined) return known
  let bytes = value.byteLength
  for (let start = 0; start < value.byteLength; start += SCAN_SLICE_BYTES) {
    if (start > 0) await heavyWork.turn()
    const end = Math.min(start + SCAN_SLICE_BYTES, value.byteLength)
    for (let i = start; i < end; i++) {
      const byte = value[i]!
      if (byte === 0x22 || byte === 0x5c) bytes += 1
      else if (byte < 0x20)
        bytes += byte === 0x08 || byte === 0x09 || byte === 0x0a || byte === 0x0c || byte === 0x0d ? 1 : 5
    }
  }
  scanned.set(value, bytes)
  return bytes
}
