// Large values as files beside the database, written, read and deleted on libuv's thread pool and hashed in slices
// between other requests: a 1 MiB value through SQLite cost the event loop 1.3 ms of page writes per upsert, the
// largest item of the soak's stalls.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { etagInSlices } from '../keys.ts'

/** A write failed because the filesystem is full (or the quota is spent). */
export function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/** Values at least this large go to files; smaller ones stay inline, where SQLite is faster than a file. */
export const FILE_VALUE_BYTES = 128 * 1024

export interface StoredFile {
  readonly name: string
  /** Strong ETag of the bytes, hashed in slices between other work; the same as etagOf(value). */
  readonly etag: string
}

export class ValueFiles {
  readonly #dir: string
  /** Bytes and count of the files rows point at (what the budget must count beside the database). */
  #bytes = 0
  #count = 0
  #reserved = 0
  /** Reads in progress, and the bytes of files read earlier that something still references (see read()). */
  readonly #reading = new Map<string, Promise<Buffer | undefined>>()
  readonly #inMemory = new Map<string, WeakRef<Buffer>>()
  /** Drops a name from #inMemory once its bytes are garbage collected (unless a newer read replaced the entry). */
  readonly #collected = new FinalizationRegistry<string>((name) => {
    if (this.#inMemory.get(name)?.deref() === undefined) this.#inMemory.delete(name)
  })

  /** Empties (or creates) `dir`: like the database, its contents never survive a start. */
  constructor(dir: string) {
    this.#dir = dir
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
  }

  /** Bytes of the files rows point at, plus those reserved for files being written. */
  get bytes(): number {
    return this.#bytes + this.#reserved
  }

  get count(): number {
    return this.#count
  }

  /** Writes `value` to a new file; the caller records it in a row, or calls discard() if that fails. */
  async write(value: Uint8Array): Promise<StoredFile> {
    const name = randomBytes(12).toString('base64url')
    try {
      const [, etag] = await Promise.all([writeFile(join(this.#dir, name), value, { flag: 'wx' }), etagInSlices(value)])
      return { name, etag }
    } catch (error) {
      this.discard(name) // a partly written file on a full disk
      throw error
    }
  }

  /**
   * The bytes of a file a row pointed at; undefined if it was deleted meanwhile (the row was replaced or evicted).
   * A file's bytes are in memory once however many clients read them: concurrent reads share one read, and a read
   * while an earlier copy is still referenced (queued for a slow client, say) gets that copy. Files never change
   * after they are written (a new value is a new file), so sharing is safe; 40 readers of an 8 MB value held 40
   * copies.
   */
  read(name: string): Promise<Buffer | undefined> {
    const live = this.#inMemory.get(name)?.deref()
    if (live) return Promise.resolve(live)
    let reading = this.#reading.get(name)
    if (!reading) {
      reading = readFile(join(this.#dir, name))
        .then((bytes) => {
          this.#inMemory.set(name, new WeakRef(bytes))
          this.#collected.register(bytes, name)
          return bytes
        }, missingAsUndefined)
        .finally(() => this.#reading.delete(name))
      this.#reading.set(name, reading)
    }
    return reading
  }

  /** For read-modify-write inside a transaction (rare: values of this size are seldom updated in place). */
  readSync(name: string): Buffer | undefined {
    try {
      return readFileSync(join(this.#dir, name))
    } catch (error) {
      return missingAsUndefined(error)
    }
  }

  /**
   * Counts `size` bytes of files about to be written against the budget until release(): a file takes its room before
   * it is written, so concurrent large writes can never together pass the budget (40 × 8 MB peaked at 305 MiB on a
   * 64 MiB budget when files counted only once their rows landed).
   */
  reserve(size: number): void {
    this.#reserved += size
  }

  unreserve(size: number): void {
    this.#reserved -= size
  }

  /** A row now points at this file. */
  adopted(size: number): void {
    this.#bytes += size
    this.#count++
  }

  /** Rows no longer point at these files: they are deleted in the background. */
  released(files: readonly { name: string; size: number }[]): void {
    for (const { name, size } of files) {
      this.#bytes -= size
      this.#count--
      this.discard(name)
    }
  }

  /** Deletes a file no row points at; a failure leaves an orphan that the next start removes. */
  discard(name: string): void {
    unlink(join(this.#dir, name)).catch(() => {})
  }
}

/** A file that is gone reads as absent; any other failure is an error. */
function missingAsUndefined(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
  throw error
}
