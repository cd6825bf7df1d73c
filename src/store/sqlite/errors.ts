// Classifies node:sqlite errors by their primary result code.

interface SqliteError {
  code?: unknown
  errcode?: unknown
}

function primaryCode(error: unknown): number | undefined {
  const e = error as SqliteError
  return e && e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number' ? e.errcode & 0xff : undefined
}

/** SQLITE_BUSY (5) or SQLITE_LOCKED (6): another connection holds the lock. */
export function isBusy(error: unknown): boolean {
  const code = primaryCode(error)
  return code === 5 || code === 6
}

/** SQLITE_FULL (13): the disk, or max_page_count, is full. */
export function isFull(error: unknown): boolean {
  return primaryCode(error) === 13
}
