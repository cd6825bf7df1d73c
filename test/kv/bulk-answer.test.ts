// The bulk-get answer is streamed, its size computed before its first byte: the bytes must be exactly the JSON the
// API promises (and Content-Length exactly their count), whatever the values hold.
import * as fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SLICE_BYTES } from '../../src/http/slices.ts'
import { jsonTextBytes, planBulkAnswer } from '../../src/kv/bulk-answer.ts'
import type { Entry } from '../../src/store/types.ts'
import { testApp } from '../helpers/app.ts'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The answer as the API documents it, built the plain way: UTF-8 text when the value is valid UTF-8, else base64. */
function expectedAnswer(keys: readonly string[], entries: readonly (Entry | undefined)[]): string {
  return JSON.stringify({
    items: entries.map((entry, i) => {
      if (!entry) return { key: keys[i], found: false }
      let text: { value: string; encoding: string }
      try {
        text = { value: strictUtf8.decode(entry.value), encoding: 'utf8' }
      } catch {
        text = { value: Buffer.from(entry.value).toString('base64'), encoding: 'base64' }
      }
      return {
        key: keys[i],
        found: true,
        ...text,
        contentType: entry.contentType,
        etag: entry.etag,
        expiresAt: new Date(entry.expiresAt).toISOString(),
      }
    }),
  })
}

function entryOf(key: string, value: Uint8Array): Entry {
  return {
    namespace: 'app',
    key,
    value,
    contentType: 'text/plain; charset="x"',
    etag: '"e\\t"',
    tags: [],
    size: value.byteLength,
    writtenAt: 0,
    expiresAt: 1_700_000_000_000,
  } as unknown as Entry
}

async function streamed(keys: string[], entries: (Entry | undefined)[]): Promise<{ declared: number; text: Buffer }> {
  const answer = await planBulkAnswer(keys, entries, Number.MAX_SAFE_INTEGER)
  assert.ok(answer)
  return { declared: answer.bytes, text: Buffer.concat([...answer.pieces()]) }
}

/** Values that cross slice boundaries with multi-byte characters, escapes, and bytes that are not UTF-8. */
const value = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => new Uint8Array(Buffer.from(s))),
  fc
    .tuple(fc.nat(SLICE_BYTES + 7), fc.constantFrom('é', '€', '😀', '"', '\\', '\n', '\u0001', 'a'))
    .map(([n, ch]) => new Uint8Array(Buffer.from(`${'a'.repeat(n) + ch.repeat(5)}z`))),
)

test('the streamed answer is byte for byte the documented JSON, and its declared size is its length', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.option(value)), { minLength: 1, maxLength: 5 }),
      async (items) => {
        const keys = items.map(([key], i) => `${key}${i}`)
        const entries = items.map(([, v], i) => (v === null ? undefined : entryOf(keys[i]!, v)))
        const { declared, text } = await streamed(keys, entries)
        assert.is(text.toString('utf8'), expectedAnswer(keys, entries))
        assert.is(declared, text.byteLength)
      },
    ),
    { numRuns: 300 },
  )
})

test('values several slices long, UTF-8 and not, stream exactly', async () => {
  const text = new Uint8Array(Buffer.from('ab€\n"\\\u0002😀'.repeat(40_000)))
  const binary = new Uint8Array(Buffer.from(Array.from({ length: 300_001 }, (_, i) => (i * 131) % 256)))
  const { declared, text: body } = await streamed(
    ['t', 'b', 'gone'],
    [entryOf('t', text), entryOf('b', binary), undefined],
  )
  assert.is(
    body.toString('utf8'),
    expectedAnswer(['t', 'b', 'gone'], [entryOf('t', text), entryOf('b', binary), undefined]),
  )
  assert.is(declared, body.byteLength)
  assert.is(await jsonTextBytes(text), Buffer.byteLength(JSON.stringify(Buffer.from(text).toString('utf8'))) - 2)
})

test('the route sends the streamed answer with its exact Content-Length', async () => {
  const app = testApp()
  const big = Buffer.from('line "one"\n'.repeat(30_000))
  assert.is((await app.request('/v1/kv/app/big', { method: 'PUT', body: big })).status, 201)
  assert.is((await app.request('/v1/kv/app/bin', { method: 'PUT', body: Buffer.from([0xff, 0xfe, 0x00]) })).status, 201)
  const response = await app.request('/v1/kv/app/_bulk', {
    method: 'POST',
    body: JSON.stringify({ get: ['big', 'bin', 'none'] }),
    headers: { 'content-type': 'application/json' },
  })
  assert.is(response.status, 200)
  const body = Buffer.from(await response.arrayBuffer())
  assert.is(response.headers.get('content-length'), String(body.byteLength))
  const items = (
    JSON.parse(body.toString('utf8')) as { items: { key: string; found: boolean; value?: string; encoding?: string }[] }
  ).items
  assert.equal(
    items.map((i) => [i.key, i.found, i.encoding]),
    [
      ['big', true, 'utf8'],
      ['bin', true, 'base64'],
      ['none', false, undefined],
    ],
  )
  assert.is(items[0]!.value, big.toString('utf8'))
  assert.is(items[1]!.value, '//4A')
})

test.run()
