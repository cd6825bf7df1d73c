// A sidecar's memory is reserved in every task: a cachecar loads the upstream client (undici) only with upstreams
// configured, and the shared tier's client (ioredis) only with a shared tier. Each is several MB of an idle process.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startChild } from '../helpers/process.ts'
import { startRedis } from '../helpers/redis.ts'
import { tempDir } from '../helpers/tmp.ts'

/** The package names a cachecar started with `env` imported, as its module resolution saw them. */
async function packagesLoaded(env: Record<string, string>): Promise<Set<string>> {
  const dir = tempDir('cachecar-footprint-')
  const log = join(dir.path, 'resolved.txt')
  const hook = join(dir.path, 'hook.mjs')
  // Node's in-thread module hooks: every bare specifier resolved is appended to the log.
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module'
import { appendFileSync } from 'node:fs'
registerHooks({ resolve(specifier, context, next) {
  if (!specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.startsWith('file:')) appendFileSync(${JSON.stringify(log)}, specifier + '\\n')
  return next(specifier, context)
} })
`,
  )
  writeFileSync(log, '')
  const child = await startChild(
    { CACHECAR_DB_PATH: join(dir.path, 'cachecar.db'), ...env },
    { nodeArgs: ['--import', hook] },
  )
  try {
    return new Set(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((specifier) =>
          (specifier.startsWith('@') ? specifier.split('/').slice(0, 2) : specifier.split('/').slice(0, 1)).join('/'),
        ),
    )
  } finally {
    child.process.kill('SIGKILL')
    await child.exited
    dir.remove()
  }
}

test('without upstreams or a shared tier, neither undici nor ioredis is loaded', async () => {
  const loaded = await packagesLoaded({})
  assert.ok(loaded.has('hono'), `the log sees the packages that are loaded: ${[...loaded].join(', ')}`)
  assert.not.ok(loaded.has('undici'), 'undici')
  assert.not.ok(loaded.has('ioredis'), 'ioredis')
})

test('upstreams load undici, and a shared tier loads ioredis', async () => {
  const redis = await startRedis()
  try {
    const loaded = await packagesLoaded({ CACHECAR_UPSTREAMS: 'o=http://127.0.0.1:9', CACHECAR_SHARED_URL: redis.url })
    assert.ok(loaded.has('undici'), 'undici')
    assert.ok(loaded.has('ioredis'), 'ioredis')
  } finally {
    await redis.stop()
  }
})

test.run()
