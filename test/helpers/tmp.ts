// Temporary directories that remove themselves when the suite ends.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function tempDir(label = 'cachecar-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), label))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}
