// One cachecar per database path: a lock the operating system drops when the process ends (an fcntl lock taken
// through SQLite), taken before anything at the path is wiped, so a second instance can never delete a running one's
// files. A lock file left by a process that died holds no lock, so it never stops a start.
import { mkdirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { MEMORY } from './open.ts'

/** Another live process holds the lock on this database path. */
export class DatabaseInUseError extends Error {
  constructor(path: string, lockPath: string) {
    super(
      `${path} is in use by another running cachecar (it holds the lock ${lockPath}); give each instance its own CACHECAR_DB_PATH`,
    )
    this.name = 'DatabaseInUseError'
  }
}

export interface InstanceLock {
  release(): void
}

const SQLITE_BUSY = 5

export function lockDatabasePath(path: string): InstanceLock {
  if (path === MEMORY) return { release() {} }
  mkdirSync(dirname(path), { recursive: true })
  const lockPath = `${path}.lock`
  try {
    return holdLock(lockPath)
  } catch (error) {
    if ((error as { errcode?: number }).errcode === SQLITE_BUSY) throw new DatabaseInUseError(path, lockPath)
    // Anything else (a file that is not a database, a half-written one): nobody holds it, so it is ours to replace.
    rmSync(lockPath, { force: true })
    rmSync(`${lockPath}-journal`, { force: true })
    return holdLock(lockPath)
  }
}

/** An exclusive transaction held open for the life of the process: SQLite keeps the file locked until it ends. */
function holdLock(lockPath: string): InstanceLock {
  const db = new DatabaseSync(lockPath, { timeout: 0 })
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS lock (pid INTEGER)')
  } catch (error) {
    db.close()
    throw error
  }
  return {
    release() {
      if (db.isOpen) db.close()
    },
  }
}
