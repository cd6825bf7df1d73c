// Does what the Dockerfile does, outside a container: copy what it copies, install production dependencies,
// start its CMD with its environment, run its HEALTHCHECK, serve a cached request, stop with SIGTERM.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT, dockerfile } from '../helpers/deployment.ts'
import { startChild } from '../helpers/process.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

test("the image's files, installed with npm ci --omit=dev, start, pass the health check, cache, and stop cleanly", async () => {
  const image = dockerfile()
  const dir = tempDir('cachecar-image-')
  const app = join(dir.path, 'app')
  mkdirSync(app)
  // The deps stage copies the manifests; the final stage copies package.json and src.
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(ROOT, file), join(app, file))
  for (const [source] of image.copies.filter((c) => !c[0]!.startsWith('--from')))
    cpSync(join(ROOT, source!), join(app, source!), { recursive: true })
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: app,
    stdio: 'ignore',
    timeout: 240_000,
  })

  const upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' })
    res.end('from the origin')
  })
  const dataDir = join(dir.path, 'data') // stands in for the task volume mounted at the image's VOLUME
  mkdirSync(dataDir)
  const [command, ...args] = image.cmd
  assert.is(command, 'node')
  const child = await startChild(
    {
      ...image.env,
      CACHECAR_PORT: '0',
      CACHECAR_DB_PATH: join(dataDir, 'cachecar.db'),
      CACHECAR_UPSTREAMS: `origin=${upstream.url}`,
    },
    { script: join(app, args.at(-1)!), nodeArgs: args.slice(0, -1) },
  )
  try {
    const port = new URL(child.url).port
    const [, healthScript] = image.healthcheck
    const health = spawn(process.execPath, [join(app, healthScript!)], {
      env: { PATH: process.env.PATH ?? '', CACHECAR_PORT: port },
      stdio: 'ignore',
    })
    assert.equal(await once(health, 'exit'), [0, null])
    assert.is(await (await fetch(`${child.url}/u/origin/hello`)).text(), 'from the origin')
    const second = await fetch(`${child.url}/u/origin/hello`)
    assert.match(second.headers.get('cache-status') ?? '', 'hit')
    assert.is(upstream.received.length, 1)
    child.process.kill('SIGTERM')
    assert.equal(await child.exited, { code: 0, signal: null })
  } finally {
    child.process.kill('SIGKILL')
    await upstream.close()
    dir.remove()
  }
})

test.run()
