// Large values kept as files beside the database: written and read off the event loop, deleted with their rows,
// wiped at start, and counted in the byte budget.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { etagInSlices, etagOf } from '../../src/store/keys.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { FILE_VALUE_BYTES } from '../../src/store/sqlite/value-files.ts'
import type { SetInput } from '../../src/store/types.ts'
import { startCachecar } from '../helpers/cachecar.ts'
import { ManualClock } from '../helpers/clock.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

const KiB = 1024
const MiB = 1024 ** 2
const dir = tempDir()
test.after(() => dir.remove())
let n = 0

const large = (key: string, fill: number, bytes = FILE_VALUE_BYTES + 1, ttlMs = 3_600_000): SetInput => ({
  namespace: 'ns',
  key,
  value: new Uint8Array(bytes).fill(fill),
  contentType: 'application/octet-stream',
  ttlMs,
})

function open(
  clock = new ManualClock(),
  maxBytes = 64 * MiB,
): { store: SqliteStore; path: string; files: () => string[] } {
  const path = join(dir.path, `values-${n++}.db`)
  const store = new SqliteStore({ path, maxBytes, now: clock.now })
  return { store, path, files: () => readdirSync(`${path}.values`) }
}

test('a large value is a file beside the database, read back byte for byte with the same strong ETag', async () => {
  const { store, path, files } = open()
  const input = large('k', 3)
  const result = await store.set(input)
  assert.is(files().length, 1)
  assert.is(statSync(join(`${path}.values`, files()[0]!)).size, input.value.byteLength)
  assert.ok(statSync(path).size < input.value.byteLength, 'the database does not hold the bytes')
  const entry = await store.get('ns', 'k')
  assert.ok(entry)
  assert.equal(Buffer.from(entry.value), Buffer.from(input.value))
  assert.is(entry.etag, etagOf(input.value))
  if (result.status !== 'precondition-failed') assert.is(result.etag, etagOf(input.value))
  assert.ok((await store.stats()).bytes >= input.value.byteLength, 'stats count the file')
  await store.close()
})

test('large values are hashed in slices: other work runs meanwhile, and the ETag is the one of the whole bytes', async () => {
  for (const bytes of [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, MiB + 17]) {
    const value = new Uint8Array(bytes).map((_, i) => (i * 131) & 0xff)
    assert.is(await etagInSlices(value), etagOf(value), `${bytes} bytes`)
  }
  // A callback that runs once per turn of the event loop, however fast the machine: it must run between slices.
  let turns = 0
  let counting = true
  const tick = () => {
    if (counting) {
      turns++
      setImmediate(tick)
    }
  }
  setImmediate(tick)
  await etagInSlices(new Uint8Array(4 * MiB))
  counting = false
  assert.ok(turns >= 32, `only ${turns} turns of the event loop ran while 4 MiB (64 slices) were hashed`)
})

test('small values stay in the database', async () => {
  const { store, files } = open()
  await store.set(large('small', 1, FILE_VALUE_BYTES - 1))
  assert.is(files().length, 0)
  assert.is((await store.get('ns', 'small'))?.value.byteLength, FILE_VALUE_BYTES - 1)
  await store.close()
})

test('files go with their rows: overwrite, delete, prefix and tag purges, expiry sweeps', async () => {
  const clock = new ManualClock()
  const { store, files } = open(clock)
  await store.set(large('a', 1))
  await store.set(large('a', 2)) // overwrite: the first file goes
  await store.set({ ...large('b', 3), tags: ['t'] })
  await store.set(large('c/1', 4))
  await store.set(large('d', 5, FILE_VALUE_BYTES + 1, 1000))
  await store.set(large('e', 6))
  assert.ok(await eventually(() => files().length === 5), `one file per live row: ${files().length}`)
  await store.set(large('e', 6, 10)) // replaced by a small value: the file goes
  assert.is(await store.delete('ns', 'a'), 'deleted')
  assert.is(await store.deleteTags(['t']), 1)
  assert.is(await store.deletePrefix('ns', 'c/'), 1)
  clock.advance(1000)
  await store.sweepExpired(100)
  assert.ok(await eventually(() => files().length === 0), `no file outlives its row: ${files()}`)
  assert.is((await store.get('ns', 'e'))?.value.byteLength, 10)
  await store.close()
})

test('a start wipes value files left by the previous process', async () => {
  const path = join(dir.path, 'stale.db')
  mkdirSync(`${path}.values`, { recursive: true })
  writeFileSync(join(`${path}.values`, 'orphan'), 'left by a crash')
  const store = new SqliteStore({ path, maxBytes: 64 * MiB })
  assert.equal(readdirSync(`${path}.values`), [])
  await store.close()
})

test("a file deleted behind the store's back reads as a miss, never an error", async () => {
  const { store, path, files } = open()
  await store.set(large('k', 9))
  rmSync(join(`${path}.values`, files()[0]!))
  assert.is(await store.get('ns', 'k'), undefined)
  await store.close()
})

test('value files count in the byte budget: eviction keeps database + WAL + shm + files within it', async () => {
  const clock = new ManualClock()
  const maxBytes = 8 * MiB
  const { store, path, files } = open(clock, maxBytes)
  const onDisk = () =>
    ['', '-wal', '-shm'].reduce((sum, s) => sum + (existsSync(path + s) ? statSync(path + s).size : 0), 0) +
    // A file evicted between the listing and its stat is gone: it counts for nothing.
    files().reduce(
      (sum, name) => sum + (statSync(join(`${path}.values`, name), { throwIfNoEntry: false })?.size ?? 0),
      0,
    )
  let peak = 0
  for (let i = 0; i < 120; i++) {
    // 120 × 256 KiB = 30 MiB written into an 8 MiB budget
    clock.advance(1)
    await store.set(large(`k${i}`, i % 250, 256 * KiB))
    await store.maintain()
    await new Promise((resolve) => setTimeout(resolve, 1)) // let background unlinks land before measuring
    peak = Math.max(peak, onDisk())
  }
  assert.ok(peak <= maxBytes, `files peaked at ${peak} bytes, budget ${maxBytes}`)
  assert.ok(await store.get('ns', 'k119'), 'the newest entry survives')
  assert.is(await store.get('ns', 'k0'), undefined, 'the oldest entry was evicted')
  await store.close()
})

test('through the proxy: a 300 KiB response is stored as a file and served again byte for byte', async () => {
  const body = Buffer.alloc(300 * KiB)
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff
  const upstream = await fakeUpstream((_req, res) =>
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(body.length) }).end(body),
  )
  const path = join(dir.path, `proxy-${n++}.db`)
  const car = await startCachecar({
    CACHECAR_DB_PATH: path,
    CACHECAR_MEMORY_BYTES: '0',
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
  })
  try {
    const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
    const first = await fetch(`${car.url}/u/api/big`)
    assert.is(sha(new Uint8Array(await first.arrayBuffer())), sha(body))
    const stored = async () =>
      /cachecar_proxy_events_total\{upstream="api",event="stored"\} 1/.test(
        await (await fetch(`${car.url}/metrics`)).text(),
      )
    assert.ok(await eventually(stored), 'stored (after the body went out)')
    assert.is(readdirSync(`${path}.values`).length, 1, 'as a value file')
    const second = await fetch(`${car.url}/u/api/big`)
    assert.match(second.headers.get('cache-status') ?? '', /hit/)
    assert.is(second.headers.get('content-length'), String(body.length))
    assert.is(sha(new Uint8Array(await second.arrayBuffer())), sha(body))
    assert.is(upstream.received.length, 1)
  } finally {
    await car.shutdown()
    await upstream.close()
  }
})

test.run()
