// The Store on one node:sqlite connection: every write on it, expired rows invisible, the byte budget enforced.
import type { DatabaseSync } from 'node:sqlite'
import { prefixUpperBound } from '../keys.ts'
import { addToCounter, preconditionHolds } from '../precondition.ts'
import { DiskBudget } from './budget.ts'
import type { InstanceLock } from './instance-lock.ts'
import { MEMORY } from './open.ts'
import { openStoreDatabase } from './open-store.ts'
import { RecentReads } from './recent-reads.ts'
import {
  prepareStatements,
  putRow,
  toEntry,
  toInfo,
  type CurrentRow,
  type LiveRow,
  type Row,
  type Statements,
} from './statements.ts'
import { DEFAULT_RETRY, type RetryPolicy } from './retry.ts'
import { FILE_VALUE_BYTES, ValueFiles, type StoredFile } from './value-files.ts'
import { WriteFence } from '../write-fence.ts'
import { Writer } from './writer.ts'
import { Eviction } from './eviction.ts'
import { FileWrites } from './file-writes.ts'
import type {
  DeleteResult,
  Entry,
  EntryInfo,
  IncrResult,
  ListOptions,
  Precondition,
  SetInput,
  SetResult,
  Store,
  StoreEvents,
  StoreStats,
  SweepResult,
  UpdateResult,
} from '../types.ts'

export interface SqliteStoreOptions {
  readonly path: string
  readonly maxBytes: number
  readonly now?: () => number
  readonly events?: StoreEvents
  readonly retry?: RetryPolicy
  /** Hard page cap; defaults to 95 % of the budget. Tests set it low to provoke SQLITE_FULL. */
  readonly maxPages?: number
  /**
   * 'exclusive' (default) keeps the file locked for this connection alone, the fastest mode (see open.ts).
   * 'normal' lets other connections in; tests use it to provoke lock contention.
   */
  readonly lockingMode?: 'exclusive' | 'normal'
  /** Values at least this large are kept in files beside a file-backed database (never for :memory:). */
  readonly fileValueBytes?: number
}

const PURGE_BATCH = 1000
// SQLite orders every TEXT before every BLOB, so a blob works as "no upper bound" for key ranges.
const NO_UPPER_BOUND = new Uint8Array([0xff])
const EMPTY = new Uint8Array(0)

export class SqliteStore implements Store {
  readonly #db: DatabaseSync
  readonly #sql: Statements
  readonly #now: () => number
  readonly #events: StoreEvents
  readonly #budget: DiskBudget
  /** Reads are noted here, in memory; eviction consults it (recent-reads.ts). */
  readonly #recent: RecentReads
  readonly #eviction: Eviction
  readonly #files: ValueFiles | undefined
  readonly #fileWrites: FileWrites
  /** Group commit, transactions and the row count (writer.ts). */
  readonly #writer: Writer
  /** Large-value writes whose file is being written, not yet queued: deletes wait for them. */
  readonly #fence = new WriteFence()
  /** Settles once what previous runs left at the path is deleted (in the background: starting never waits for it). */
  readonly leftoversRemoved: Promise<void>
  readonly #lock: InstanceLock

  constructor(options: SqliteStoreOptions) {
    const opened = openStoreDatabase(options)
    this.#lock = opened.lock
    this.#db = opened.db
    this.leftoversRemoved = opened.leftoversRemoved
    this.#now = options.now ?? Date.now
    this.#events = options.events ?? {}
    this.#files = options.path === MEMORY ? undefined : new ValueFiles(`${options.path}.values`)
    this.#budget = new DiskBudget(this.#db, options.path, options.maxBytes, () => this.#files?.bytes ?? 0)
    this.#sql = prepareStatements(this.#db)
    this.#recent = new RecentReads(options.maxBytes)
    this.#writer = new Writer({
      db: this.#db,
      sql: this.#sql,
      retry: options.retry ?? DEFAULT_RETRY,
      events: this.#events,
      withRoom: (bytes, operation) => this.#eviction.withRoom(bytes, operation),
      wrote: (bytes) => {
        this.#budget.wrote(bytes)
        if (this.#budget.mayExceed(0)) this.#eviction.scheduleRebalance()
      },
      reapFiles: () => this.#reapFiles(),
    })
    this.#eviction = new Eviction({
      db: this.#db,
      sql: this.#sql,
      budget: this.#budget,
      recent: this.#recent,
      events: this.#events,
      now: this.#now,
      writer: this.#writer,
      reapFiles: () => this.#reapFiles(),
    })
    this.#fileWrites = new FileWrites({
      files: this.#files,
      fileValueBytes: options.fileValueBytes ?? FILE_VALUE_BYTES,
      fence: this.#fence,
      budget: this.#budget,
      eviction: this.#eviction,
      retryBusy: (operation) => this.#writer.retrying(operation),
    })
  }

  async get(namespace: string, key: string): Promise<Entry | undefined> {
    return this.#withValue(namespace, key, await this.#writer.retrying(() => this.#getLive(namespace, key)))
  }

  async getMany(namespace: string, keys: readonly string[]): Promise<(Entry | undefined)[]> {
    const found = await this.#writer.retrying(() => keys.map((key) => this.#getLive(namespace, key)))
    return Promise.all(found.map((row, i) => this.#withValue(namespace, keys[i]!, row)))
  }

  async set(input: SetInput, precondition?: Precondition): Promise<SetResult> {
    return this.#fileWrites.withFiles([input], async ([file]) => {
      const result = await this.#writer.write(input.value.byteLength, () => {
        const row = this.#sql.selectCurrent.get(input.namespace, input.key) as CurrentRow | undefined
        const live = this.#live(row)
        if (!preconditionHolds(precondition, live?.etag)) return { status: 'precondition-failed' } as const
        const written = this.#put(input, row, file)
        return { status: live ? 'replaced' : 'created', ...written } as const
      })
      return { result, landed: result.status !== 'precondition-failed' }
    })
  }

  setMany(inputs: readonly SetInput[]): Promise<{ etag: string; expiresAt: number }[]> {
    const bytes = inputs.reduce((sum, input) => sum + input.value.byteLength, 0)
    return this.#fileWrites.withFiles(inputs, async (files) => ({
      result: await this.#writer.write(bytes, () =>
        inputs.map((input, i) =>
          this.#put(input, this.#sql.selectCurrent.get(input.namespace, input.key) as CurrentRow | undefined, files[i]),
        ),
      ),
      landed: true,
    }))
  }

  async delete(namespace: string, key: string, precondition?: Precondition): Promise<DeleteResult> {
    await this.#fence.passed()
    return this.#writer.write(0, () => {
      const current = this.#live(this.#sql.selectCurrent.get(namespace, key) as CurrentRow | undefined)
      if (!preconditionHolds(precondition, current?.etag)) return 'precondition-failed'
      if (!current) return 'not-found'
      this.#sql.deleteById.run(current.id)
      this.#writer.rows--
      return 'deleted'
    })
  }

  /** Purges live entries whose key starts with `prefix`; expired ones are left to the sweeper. */
  async deletePrefix(namespace: string, prefix: string): Promise<number> {
    const upper = prefixUpperBound(prefix) ?? NO_UPPER_BOUND
    return this.#deleteInBatches(
      () => this.#sql.deleteRangeBatch.run(namespace, prefix, upper, this.#now(), PURGE_BATCH).changes,
    )
  }

  async deleteTags(tags: readonly string[]): Promise<number> {
    let removed = 0
    for (const tag of new Set(tags)) {
      removed += await this.#deleteInBatches(
        () => this.#sql.deleteTaggedBatch.run(tag, this.#now(), PURGE_BATCH).changes,
      )
    }
    return removed
  }

  update(
    namespace: string,
    key: string,
    mutate: (current: Entry) => Omit<SetInput, 'namespace' | 'key'> | undefined,
    precondition?: Precondition,
  ): Promise<UpdateResult> {
    return this.#writer.write(0, (): UpdateResult => {
      const row = this.#sql.selectLive.get(namespace, key, this.#now()) as LiveRow | undefined
      const value = row?.file ? this.#files?.readSync(row.file) : row?.value
      if (!row || !value) return { status: 'not-found' }
      if (!preconditionHolds(precondition, row.etag)) return { status: 'precondition-failed' }
      const current = toEntry(namespace, key, row, value)
      const next = mutate(current)
      if (!next) return { status: 'unchanged', entry: current }
      const input = { ...next, namespace, key }
      const { etag, expiresAt } = this.#put(input, row)
      const now = this.#now()
      return {
        status: 'updated',
        entry: { ...input, tags: input.tags ?? [], etag, expiresAt, writtenAt: now, size: input.value.byteLength },
      }
    })
  }

  rename(namespace: string, from: string, to: string): Promise<boolean> {
    return this.#writer.write(0, () => {
      if (this.#live(this.#sql.selectCurrent.get(namespace, to) as CurrentRow | undefined)) return false
      // An expired row may still hold the new key until the sweeper runs: it goes first.
      this.#writer.rows -= Number(this.#sql.deleteKey.run(namespace, to).changes)
      return Number(this.#sql.renameLive.run(to, namespace, from, this.#now()).changes) === 1
    })
  }

  incr(namespace: string, key: string, by: number, ttlMs: number): Promise<IncrResult> {
    return this.#writer.write(24, (): IncrResult => {
      const now = this.#now()
      const row = this.#sql.selectCurrentWithValue.get(namespace, key) as
        | (CurrentRow & { file: string | null; value: Uint8Array })
        | undefined
      const current = this.#live(row)
      if (!current) {
        const value = Buffer.from(String(by))
        const written = this.#put({ namespace, key, value, contentType: 'text/plain', ttlMs }, row)
        return { status: 'ok', value: by, ...written }
      }
      const sum = addToCounter((current.file ? this.#files?.readSync(current.file) : current.value) ?? EMPTY, by)
      if (sum.status !== 'ok') return sum
      this.#sql.updateCounter.run(sum.bytes, sum.etag, sum.bytes.byteLength, now, current.id)
      return { status: 'ok', value: sum.next, etag: sum.etag, expiresAt: current.expires_at }
    })
  }

  list(namespace: string, options: ListOptions): Promise<EntryInfo[]> {
    const upper = prefixUpperBound(options.prefix) ?? NO_UPPER_BOUND
    return this.#writer.retrying(() => {
      const rows = this.#sql.listRange.all(
        namespace,
        options.after ?? '',
        options.prefix,
        upper,
        this.#now(),
        options.limit,
      )
      return (rows as unknown as Omit<Row, 'value' | 'id'>[]).map((row) => toInfo(row))
    })
  }

  async sweepExpired(batch: number): Promise<SweepResult> {
    const removed = await this.#writer.retrying(() => {
      const changes = Number(this.#sql.deleteExpiredBatch.run(this.#now(), batch).changes)
      this.#writer.rows -= changes
      this.#reapFiles()
      return changes
    })
    return { removed, more: removed === batch }
  }

  async maintain(): Promise<void> {
    this.#budget.measure()
    if (this.#budget.mayExceed(0)) await this.#eviction.rebalance()
  }

  async stats(): Promise<StoreStats> {
    return {
      entries: this.#writer.rows,
      bytes: this.#budget.diskBytes(),
      dataBytes: this.#budget.dataBytes(),
      walBytes: this.#budget.walBytes(),
    }
  }

  /** A read served above this store (by the hot tier): it counts for eviction as a read here would. */
  noteRead(namespace: string, key: string): void {
    this.#recent.note(namespace, key, this.#now())
  }

  /** count(*) of the rows, O(n) on the event loop: for tests and diagnostics, never for /metrics. */
  countRowsSlowly(): number {
    return Number((this.#sql.countEntries.get() as { n: number }).n)
  }

  async ping(): Promise<void> {
    const at = this.#now()
    await this.#writer.retrying(() => this.#sql.writeReadiness.run(at))
    const row = this.#sql.readReadiness.get() as { at: number } | undefined
    if (row?.at !== at) throw new Error('readiness row did not read back')
  }

  async close(): Promise<void> {
    if (this.#writer.closed) return
    await this.#writer.close()
    await this.#eviction.rebalancing
    this.#db.close()
    this.#lock.release()
  }

  // ---- internals -------------------------------------------------------------------------------------------

  #getLive(namespace: string, key: string): LiveRow | undefined {
    const row = this.#sql.selectLive.get(namespace, key, this.#now()) as LiveRow | undefined
    if (row) this.#recent.note(namespace, key, this.#now())
    return row
  }

  /** The entry with its value, read from its file when it has one (undefined if the file went meanwhile). */
  async #withValue(namespace: string, key: string, row: LiveRow | undefined): Promise<Entry | undefined> {
    if (!row) return undefined
    if (!row.file || !this.#files) return toEntry(namespace, key, row, row.value)
    const value = await this.#files.read(row.file)
    return value && toEntry(namespace, key, row, value)
  }

  /** Deletes the files of rows that were just removed or replaced (see dead_files in open.ts). */
  #reapFiles(): void {
    if (!this.#files || this.#files.count === 0) return
    this.#files.released(this.#sql.takeDeadFiles.all() as { name: string; size: number }[])
  }

  /** The row if it is live; an expired row counts as absent. */
  #live<R extends CurrentRow>(row: R | undefined): R | undefined {
    return row && row.expires_at > this.#now() ? row : undefined
  }

  /** Writes the entry over `previous` (the row under its key, live or expired), counting a new row. */
  #put(input: SetInput, previous: CurrentRow | undefined, file?: StoredFile): { etag: string; expiresAt: number } {
    const written = putRow(this.#sql, input, previous, file, this.#now())
    if (!previous) this.#writer.rows++
    return written
  }

  async #deleteInBatches(deleteBatch: () => number | bigint): Promise<number> {
    await this.#fence.passed()
    return this.#writer.writeInBatches(PURGE_BATCH, () => {
      const deleted = Number(deleteBatch())
      this.#writer.rows -= deleted
      return deleted
    })
  }
}
