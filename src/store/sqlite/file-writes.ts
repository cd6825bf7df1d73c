// Values of at least FILE_VALUE_BYTES live in files beside the database (value-files.ts): written before the row
// that names them (off the event loop), within the budget, deleted again when their write does not land.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { StoreFullError, type SetInput } from '../types.ts'
import type { WriteFence } from '../write-fence.ts'
import type { DiskBudget } from './budget.ts'
import { EVICT_BATCH_BYTES, type Eviction, HARD_WATERMARK } from './eviction.ts'
import { isNoSpace, type StoredFile, type ValueFiles } from './value-files.ts'

export interface FileWritesOptions {
  /** Undefined for a database in memory: every value stays in its row. */
  readonly files: ValueFiles | undefined
  readonly fileValueBytes: number
  /** Large writes are tracked here while their files are written, so deletes can wait for them. */
  readonly fence: WriteFence
  readonly budget: DiskBudget
  readonly eviction: Eviction
  /** Runs `operation`, retrying SQLITE_BUSY with backoff. */
  readonly retryBusy: <T>(operation: () => T) => Promise<T>
}

export type WriteWithFiles<T> = (files: (StoredFile | undefined)[]) => Promise<{ result: T; landed: boolean }>

export class FileWrites {
  readonly #files: ValueFiles | undefined
  readonly #fileValueBytes: number
  readonly #fence: WriteFence
  readonly #budget: DiskBudget
  readonly #eviction: Eviction
  readonly #retryBusy: <T>(operation: () => T) => Promise<T>

  constructor(options: FileWritesOptions) {
    this.#files = options.files
    this.#fileValueBytes = options.fileValueBytes
    this.#fence = options.fence
    this.#budget = options.budget
    this.#eviction = options.eviction
    this.#retryBusy = options.retryBusy
  }

  /**
   * Writes the large values among `inputs` to files first (off the event loop), then runs `write` with them; files
   * of a write that did not land are deleted, those that did are counted in the budget.
   */
  async withFiles<T>(inputs: readonly SetInput[], write: WriteWithFiles<T>): Promise<T> {
    const files = this.#files
    const large = (input: SetInput) => files !== undefined && input.value.byteLength >= this.#fileValueBytes
    if (!files || !inputs.some(large)) return (await write([])).result
    return this.#fence.track(this.#withWrittenFiles(files, inputs, large, write))
  }

  async #withWrittenFiles<T>(
    files: ValueFiles,
    inputs: readonly SetInput[],
    large: (input: SetInput) => boolean,
    write: WriteWithFiles<T>,
  ): Promise<T> {
    const reserved = inputs.reduce((sum, input) => sum + (large(input) ? input.value.byteLength : 0), 0)
    files.reserve(reserved)
    let written: (StoredFile | undefined)[] = []
    let landed = false
    try {
      await this.#roomForFiles(reserved)
      written = await Promise.all(
        inputs.map((input) => (large(input) ? this.#writeFile(files, input.value) : undefined)),
      )
      const outcome = await write(written)
      landed = outcome.landed
      return outcome.result
    } finally {
      files.unreserve(reserved)
      inputs.forEach((input, i) => {
        const file = written[i]
        if (!file) return
        if (landed) files.adopted(input.value.byteLength)
        else files.discard(file.name)
      })
    }
  }

  /**
   * Before value files are written (their bytes already reserved): evicts down to the hard mark if they would pass
   * it, and refuses with StoreFullError, writing nothing, when even that leaves no room within the budget.
   */
  async #roomForFiles(bytes: number): Promise<void> {
    if (!this.#budget.usedAbove(HARD_WATERMARK)) return
    await this.#retryBusy(() => this.#eviction.evictDownTo(HARD_WATERMARK, 0))
    this.#eviction.scheduleRebalance()
    if (this.#budget.usedAbove(1)) {
      throw new StoreFullError(
        `no room for ${bytes} bytes of value files within the ${this.#budget.maxBytes}-byte budget`,
      )
    }
  }

  /** A value file; on a full disk, evicts what the value needs and tries once more, then answers StoreFullError. */
  async #writeFile(files: ValueFiles, value: Uint8Array): Promise<StoredFile> {
    try {
      return await files.write(value)
    } catch (error) {
      if (!isNoSpace(error)) throw error
      await this.#retryBusy(() => this.#eviction.evictBytes(value.byteLength * 2 + EVICT_BATCH_BYTES))
      this.#eviction.scheduleRebalance()
      // Unlinks of the evicted rows' files run in the background: give them a turn before trying again.
      await yieldToEventLoop()
      try {
        return await files.write(value)
      } catch (retryError) {
        if (!isNoSpace(retryError)) throw retryError
        throw new StoreFullError(`no room for a ${value.byteLength}-byte value file: the disk is full`, {
          cause: retryError,
        })
      }
    }
  }
}
