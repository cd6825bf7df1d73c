// SQLite-specific behaviour: the startup wipe, WAL, the byte budget, SQLITE_FULL and SQLITE_BUSY.
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PAGE_SIZE } from '../../src/store/sqlite/open.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { StoreBusyError, StoreFullError, type SetInput } from '../../src/store/types.ts'
import { rejectsWith } from '../helpers/assert.ts'
import { ManualClock } from '../helpers/clock.ts'
import { tempDir } from '../helpers/tmp.ts'

const KiB = 1024
const MiB = 1024 ** 2
const dir = tempDir()
test.after(() => dir.remove())

const entry = (key: string, bytes: number, ttlMs = 3_600_000): SetInput => ({
  namespace: 'ns',
  key,
  value: new Uint8Array(bytes).fill(7),
  contentType: 'application/octet-stream',
  ttlMs,
})

function filesSize(path: string): number {
  return ['', '-wal', '-shm'].reduce((sum, s) => sum + (existsSync(path + s) ? statSync(path + s).size : 0), 0)
}

test('startup deletes a garbage database and its side files instead of failing', async () => {
  const path = join(dir.path, 'garbage.db')
  writeFileSync(path, 'this is not a database'.repeat(1000))
  writeFileSync(`${path}-wal`, 'garbage wal')
  writeFileSync(`${path}-shm`, 'garbage shm')
  writeFileSync(`${path}-journal`, 'garbage journal')
  const store = new SqliteStore({ path, maxBytes: 64 * MiB })
  assert.is(existsSync(`${path}-journal`), false)
  await store.set(entry('k', 10))
  assert.ok(await store.get('ns', 'k'))
  await store.close()
})

test('startup begins empty even over a valid previous database', async () => {
  const path = join(dir.path, 'previous.db')
  const first = new SqliteStore({ path, maxBytes: 64 * MiB })
  await first.set(entry('k', 10))
  await first.close()
  const second = new SqliteStore({ path, maxBytes: 64 * MiB })
  assert.is(await second.get('ns', 'k'), undefined)
  assert.is((await second.stats()).entries, 0)
  await second.close()
})

test('a file database runs in WAL mode and creates its directory', async () => {
  const path = join(dir.path, 'nested', 'deeper', 'wal.db')
  const store = new SqliteStore({ path, maxBytes: 64 * MiB, lockingMode: 'normal' })
  await store.set(entry('k', 10))
  const probe = new DatabaseSync(path, { readOnly: true })
  assert.is((probe.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal')
  probe.close()
  await store.close()
})

test('writes far beyond the budget keep database + WAL + shm within it and keep recent entries', async () => {
  const path = join(dir.path, 'budget.db')
  const maxBytes = 4 * MiB
  const clock = new ManualClock()
  const store = new SqliteStore({ path, maxBytes, now: clock.now })
  let peak = 0
  for (let i = 0; i < 400; i++) {
    // 400 × 32 KiB = 12.5 MiB written into a 4 MiB budget
    clock.advance(1)
    await store.set(entry(`k${i}`, 32 * KiB))
    await store.maintain()
    peak = Math.max(peak, filesSize(path))
  }
  assert.ok(peak <= maxBytes, `files peaked at ${peak} bytes, budget ${maxBytes}`)
  assert.ok(await store.get('ns', 'k399'), 'the newest entry survives')
  assert.is(await store.get('ns', 'k0'), undefined, 'the oldest entry was evicted')
  const { entries } = await store.stats()
  assert.ok(entries > 40 && entries < 120, `entries=${entries}`)
  await store.close()
})

test('eviction removes least recently read entries first', async () => {
  const clock = new ManualClock()
  const evicted: string[] = []
  const store = new SqliteStore({
    path: ':memory:',
    maxBytes: 2 * MiB,
    now: clock.now,
    events: { evicted: (reason) => evicted.push(reason) },
  })
  for (let i = 0; i < 20; i++) {
    clock.advance(1)
    await store.set(entry(`k${i}`, 32 * KiB))
  }
  for (let i = 20; i < 80; i++) {
    clock.advance(1)
    assert.ok(await store.get('ns', 'k0'), 'k0 is read again and again: it stays recent')
    clock.advance(1)
    await store.set(entry(`k${i}`, 32 * KiB))
    await store.maintain()
  }
  assert.ok(await store.get('ns', 'k0'), 'recently read k0 survived')
  assert.is(await store.get('ns', 'k1'), undefined, 'unread k1 was evicted')
  assert.ok(evicted.includes('lru'))
  await store.close()
})

test('eviction removes expired entries before live ones', async () => {
  const clock = new ManualClock()
  const store = new SqliteStore({ path: ':memory:', maxBytes: 2 * MiB, now: clock.now })
  await store.set(entry('keeper', 32 * KiB))
  for (let i = 0; i < 30; i++) await store.set(entry(`short${i}`, 32 * KiB, 1000))
  clock.advance(1000)
  for (let i = 0; i < 20; i++) {
    await store.set(entry(`new${i}`, 32 * KiB))
    await store.maintain()
  }
  assert.ok(await store.get('ns', 'keeper'), 'the oldest live entry outlived the expired ones')
  await store.close()
})

test('SQLITE_FULL turns into eviction, and the write lands', async () => {
  const store = new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, maxPages: (256 * KiB) / PAGE_SIZE })
  for (let i = 0; i < 40; i++) await store.set(entry(`k${i}`, 8 * KiB))
  const newest = await store.get('ns', 'k39')
  assert.ok(newest, 'writes kept landing after the page cap was reached')
  assert.is(await store.get('ns', 'k0'), undefined, 'older entries made room')
  await store.close()
})

test('a value that cannot fit even in an empty store fails with StoreFullError and leaves nothing behind', async () => {
  const store = new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, maxPages: (256 * KiB) / PAGE_SIZE })
  await store.set(entry('small', 100))
  await rejectsWith(() => store.set(entry('huge', MiB)), StoreFullError)
  assert.is(await store.get('ns', 'huge'), undefined)
  await store.set(entry('after', 100))
  assert.ok(await store.get('ns', 'after'), 'the store keeps working')
  await store.close()
})

test('SQLITE_BUSY from another connection is retried, then reported as StoreBusyError; reads keep working', async () => {
  const path = join(dir.path, 'busy.db')
  let retries = 0
  const store = new SqliteStore({
    path,
    maxBytes: 64 * MiB,
    lockingMode: 'normal',
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    events: { busyRetry: () => retries++ },
  })
  await store.set(entry('k', 10))
  const other = new DatabaseSync(path)
  other.exec('BEGIN IMMEDIATE')
  await rejectsWith(() => store.set(entry('k2', 10)), StoreBusyError)
  assert.is(retries, 2)
  assert.ok(await store.get('ns', 'k'), 'reads are not blocked by the other writer')
  other.exec('ROLLBACK')
  await store.set(entry('k2', 10))
  assert.ok(await store.get('ns', 'k2'))
  other.close()
  await store.close()
})

test('a lock released during the backoff lets the write through', async () => {
  const path = join(dir.path, 'busy-brief.db')
  const store = new SqliteStore({
    path,
    maxBytes: 64 * MiB,
    lockingMode: 'normal',
    retry: { attempts: 20, baseDelayMs: 2, maxDelayMs: 10 },
  })
  const other = new DatabaseSync(path)
  other.exec('BEGIN IMMEDIATE')
  setTimeout(() => other.exec('ROLLBACK'), 20)
  await store.set(entry('k', 10))
  assert.ok(await store.get('ns', 'k'))
  other.close()
  await store.close()
})

test('writes issued together share a commit, yet one that cannot fit fails alone', async () => {
  const store = new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB, maxPages: (256 * KiB) / PAGE_SIZE })
  const [small1, huge, small2] = await Promise.allSettled([
    store.set(entry('small1', 100)),
    store.set(entry('huge', MiB)),
    store.set(entry('small2', 100)),
  ])
  assert.is(small1.status, 'fulfilled')
  assert.is(small2.status, 'fulfilled')
  assert.is(huge.status, 'rejected')
  assert.instance((huge as PromiseRejectedResult).reason, StoreFullError)
  assert.ok(await store.get('ns', 'small2'), 'the write after the failing one landed')
  assert.is(await store.get('ns', 'huge'), undefined)
  await store.close()
})

test('writes issued together apply in order: a compare-and-set sees the write queued before it', async () => {
  const store = new SqliteStore({ path: ':memory:', maxBytes: 64 * MiB })
  const first = { ...entry('k', 0), value: Buffer.from('one') }
  const { etagOf } = await import('../../src/store/keys.ts')
  const [created, swapped, refused] = await Promise.all([
    store.set(first),
    store.set({ ...first, value: Buffer.from('two') }, { ifMatch: [etagOf(first.value)] }),
    store.set({ ...first, value: Buffer.from('three') }, { ifMatch: [etagOf(first.value)] }),
  ])
  assert.equal([created.status, swapped.status, refused.status], ['created', 'replaced', 'precondition-failed'])
  assert.is(Buffer.from((await store.get('ns', 'k'))!.value).toString(), 'two')
  await store.close()
})

test('close waits for queued writes to commit', async () => {
  const path = join(dir.path, 'close-flush.db')
  const store = new SqliteStore({ path, maxBytes: 64 * MiB, lockingMode: 'normal' })
  const write = store.set(entry('k', 10))
  await store.close()
  assert.is((await write).status, 'created')
  const probe = new DatabaseSync(path, { readOnly: true })
  assert.is((probe.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n, 1)
  probe.close()
})

test('by default the store holds the file exclusively: another connection cannot write to it', async () => {
  const path = join(dir.path, 'exclusive.db')
  const store = new SqliteStore({ path, maxBytes: 64 * MiB })
  await store.set(entry('k', 10))
  const other = new DatabaseSync(path, { timeout: 0 })
  assert.throws(() => other.exec('BEGIN IMMEDIATE; COMMIT'), /locked/)
  other.close()
  await store.set(entry('k2', 10))
  assert.ok(await store.get('ns', 'k2'))
  await store.close()
})

test.run()
