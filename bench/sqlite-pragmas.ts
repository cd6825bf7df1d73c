// Measures the store's statements under candidate pragma sets, side by side in one run (node bench/sqlite-pragmas.ts).
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { SCHEMA } from '../src/store/sqlite/open.ts'

const CANDIDATES: Record<string, string> = {
  'rollback journal, synchronous=FULL (SQLite default)': 'PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;',
  'WAL, synchronous=NORMAL': 'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;',
  'WAL, synchronous=OFF': 'PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;',
  'WAL, synchronous=OFF, mmap 64 MiB': 'PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA mmap_size=67108864;',
  'WAL, synchronous=OFF, locking_mode=EXCLUSIVE':
    'PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;',
  'WAL, synchronous=OFF, locking_mode=EXCLUSIVE, mmap 64 MiB':
    'PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA mmap_size=67108864;',
}

function measure(pragmas: string, valueBytes: number): { getUs: number; putUs: number } {
  const path = join(tmpdir(), `cachecar-pragmas-${process.pid}.db`)
  for (const s of ['', '-wal', '-shm', '-journal']) rmSync(path + s, { force: true })
  const db = new DatabaseSync(path)
  db.exec(`PRAGMA auto_vacuum=INCREMENTAL; ${pragmas}`)
  db.exec(SCHEMA)
  const upsert =
    db.prepare(`INSERT INTO entries (namespace, key, content_type, etag, tags, written_at, expires_at, last_access, size, value)
    VALUES ('ns', ?, 'x', '"e"', NULL, 0, 9e15, 0, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, size = excluded.size RETURNING id`)
  const select = db.prepare(
    `SELECT id, content_type, etag, tags, written_at, expires_at, size, value FROM entries WHERE namespace = 'ns' AND key = ? AND expires_at > 0`,
  )
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const value = new Uint8Array(valueBytes).fill(7)
  const puts = valueBytes > 16384 ? 2000 : 10_000
  let started = performance.now()
  for (let i = 0; i < puts; i++) {
    begin.run()
    upsert.get(`k${i % 1000}`, valueBytes, value)
    commit.run()
  }
  const putUs = ((performance.now() - started) * 1000) / puts
  started = performance.now()
  const gets = 50_000
  for (let i = 0; i < gets; i++) select.get(`k${i % 1000}`)
  const getUs = ((performance.now() - started) * 1000) / gets
  db.close()
  for (const s of ['', '-wal', '-shm', '-journal']) rmSync(path + s, { force: true })
  return { getUs, putUs }
}

console.log(`| pragmas | PUT 1 KiB µs | GET 1 KiB µs | PUT 64 KiB µs | GET 64 KiB µs |\n|---|---|---|---|---|`)
for (const [name, pragmas] of Object.entries(CANDIDATES)) {
  const small = measure(pragmas, 1024)
  const large = measure(pragmas, 64 * 1024)
  console.log(
    `| ${name} | ${small.putUs.toFixed(1)} | ${small.getUs.toFixed(1)} | ${large.putUs.toFixed(1)} | ${large.getUs.toFixed(1)} |`,
  )
}
