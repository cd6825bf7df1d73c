// Every problem type cachecar can answer with is in the README's table: clients branch on `type`, and a type the
// table does not list is one they cannot know to handle.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const ROOT = join(import.meta.dirname, '..', '..')

/** Problem kinds in src: a `kind: '…'` with a `title:` within three lines (every problem has one; other kinds not). */
function emittedKinds(): Set<string> {
  const kinds = new Set<string>()
  for (const file of readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue
    const lines = readFileSync(join(ROOT, 'src', file), 'utf8').split('\n')
    for (const [i, line] of lines.entries()) {
      if (!/\bkind: /.test(line)) continue
      const around = lines.slice(Math.max(0, i - 3), i + 4).join('\n')
      if (!/\btitle: /.test(around)) continue
      for (const [, kind] of line.matchAll(/'([a-z][a-z-]*)'/g)) kinds.add(kind!)
    }
  }
  return kinds
}

test("the README's problem table lists every problem type src emits", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const table = readme.slice(readme.indexOf('| kind | status | when |'))
  const listed = new Set([...table.slice(0, table.indexOf('\n\n')).matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!))
  const kinds = emittedKinds()
  assert.ok(kinds.size >= 25, `found ${kinds.size} kinds: the scan still sees them`)
  for (const kind of ['upstream-timeout', 'upstream-unreachable', 'request-timeout', 'not-cached'])
    assert.ok(kinds.has(kind), `${kind} is found by the scan`)
  const missing = [...kinds].filter((kind) => !listed.has(kind))
  assert.equal(missing, [], `not in the README's table: ${missing.join(', ')}`)
})

test.run()
