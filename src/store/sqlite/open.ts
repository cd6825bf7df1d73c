// Opens the cache database from scratch: old files are deleted first, since the data is disposable by contract.
import { mkdirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

export const MEMORY = ':memory:'
const SIDE_FILES = ['', '-wal', '-shm', '-journal']

/** Deletes a previous database and its WAL, shm and rollback-journal files, whatever state they are in. */
export function wipeDatabaseFiles(path: string): void {
  if (path === MEMORY) return
  for (const suffix of SIDE_FILES) rmSync(path + suffix, { force: true })
}

export interface OpenOptions {
  readonly path: string
  /** Hard cap on main-database pages: SQLite answers SQLITE_FULL beyond it. */
  readonly maxPages: number
  readonly walLimitBytes: number
  /** WAL pages that trigger an automatic checkpoint; small budgets need small WALs. */
  readonly walCheckpointPages: number
  readonly mmapBytes: number
  readonly lockingMode: 'exclusive' | 'normal'
}

/*
 * Pragmas, measured side by side with bench/sqlite-pragmas.ts (numbers in bench/RESULTS.md):
 * - WAL: commits append instead of rewriting pages: PUT 1 KiB 178 µs → 25 µs against the default rollback journal.
 * - synchronous=OFF: no fsync at all. Nothing has to survive a crash (the file is wiped at start) and every
 *   transaction stays atomic for the running process; 64 KiB PUTs 256 µs (NORMAL) → 162 µs.
 * - locking_mode=EXCLUSIVE (default; `lockingMode: 'normal'` only for tests of lock contention): cachecar owns the
 *   file, so the WAL index lives in process memory and no transaction pays for file locks or shm:
 *   GET 1 KiB 12.5 µs → 5 µs, PUT 1 KiB 21 µs → 8.4 µs. Another process cannot even open the file meanwhile.
 * - mmap: GET 64 KiB 57 µs → 18.5 µs, but mapped pages count in RSS. Off by default: the hot tier serves repeated
 *   reads from memory at a fraction of either cost, and RSS stays within its 150 MB target.
 * - cache_size 2 MiB: the hot tier keeps hot values in memory, so a larger page cache only raised RSS
 *   (100,000 stored 1 KiB entries: 153 MB with 8 MiB, 133 MB with 2 MiB). Random reads over 1M entries (1.2 GB):
 *   12.3-13.5 µs with 2 MiB, 14.2-15.5 µs with 16 MiB: the B-tree's inner pages fit either way, and the leaves
 *   come from the OS page cache. mmap of the whole file: 8.7-10.6 µs, with RSS 1.37 GB instead of 0.2.
 * - busy_timeout=0: SQLite's own busy wait would block the event loop, so SQLITE_BUSY is retried
 *   asynchronously with backoff (retry.ts).
 * - auto_vacuum=INCREMENTAL: lets eviction hand pages back to the filesystem so the file obeys the budget.
 * - page_size=16 KiB: a 1 MiB value spans 64 overflow pages instead of 256. Upsert + commit, 4 KiB → 16 KiB pages:
 *   1 KiB 40 → 46 µs, 64 KiB 215 → 145 µs, 1 MiB 3.0 → 1.3 ms; the soak's stalls came from the large ones.
 */
export const PAGE_SIZE = 16 * 1024

export function openDatabase(options: OpenOptions): DatabaseSync {
  wipeDatabaseFiles(options.path)
  if (options.path !== MEMORY) mkdirSync(dirname(options.path), { recursive: true })
  const db = new DatabaseSync(options.path, { enableForeignKeyConstraints: true, timeout: 0 })
  db.exec(`
    PRAGMA page_size = ${PAGE_SIZE};
    PRAGMA auto_vacuum = INCREMENTAL;
    PRAGMA locking_mode = ${options.lockingMode === 'exclusive' ? 'EXCLUSIVE' : 'NORMAL'};
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = OFF;
    PRAGMA temp_store = MEMORY;
    PRAGMA cache_size = -2048;
    PRAGMA mmap_size = ${Math.floor(options.mmapBytes)};
    PRAGMA journal_size_limit = ${Math.floor(options.walLimitBytes)};
    PRAGMA wal_autocheckpoint = ${Math.max(16, Math.floor(options.walCheckpointPages))};
    PRAGMA max_page_count = ${Math.max(16, Math.floor(options.maxPages))};
  `)
  db.exec(SCHEMA)
  return db
}

// The value column comes last so metadata reads never walk a large value's overflow pages.
export const SCHEMA = `
  CREATE TABLE entries (
    id           INTEGER PRIMARY KEY,
    namespace    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    etag         TEXT    NOT NULL,
    tags         TEXT,
    written_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_access  INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    file         TEXT,
    value        BLOB    NOT NULL,
    UNIQUE (namespace, key)
  );
  CREATE INDEX entries_by_expiry ON entries (expires_at);
  CREATE INDEX entries_by_access ON entries (last_access);
  CREATE TABLE entry_tags (
    tag      TEXT    NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, entry_id)
  ) WITHOUT ROWID;
  CREATE INDEX entry_tags_by_entry ON entry_tags (entry_id);
  CREATE TABLE readiness (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
  -- Large values live in files (value-files.ts; file names the file, value is empty). Whatever removes or replaces
  -- such a row (a delete, a sweep, an eviction, an overwrite) leaves the file's name here for the store to delete.
  CREATE TABLE dead_files (name TEXT NOT NULL, size INTEGER NOT NULL);
  CREATE TRIGGER entries_file_deleted AFTER DELETE ON entries WHEN old.file IS NOT NULL
    BEGIN INSERT INTO dead_files (name, size) VALUES (old.file, old.size); END;
  CREATE TRIGGER entries_file_replaced AFTER UPDATE OF file ON entries WHEN old.file IS NOT NULL AND old.file IS NOT new.file
    BEGIN INSERT INTO dead_files (name, size) VALUES (old.file, old.size); END;
`
