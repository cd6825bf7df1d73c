// Does what the Dockerfile does, outside a container: build dist/ as its build stage does, copy what the final stage
// copies, install production dependencies, start its CMD with its environment, run its HEALTHCHECK, serve a cached
// request, stop with SIGTERM. So the image runs the compiled output, and this test is what verifies it.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs'
import { join, relative } from 'node:path'
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
  const build = join(dir.path, 'build')
  mkdirSync(app)
  mkdirSync(build)
  // The build stage: its COPY lines, then `npm run build` with the dev dependencies (these, already installed here).
  for (const [...sources] of image.stages.build!.copies) {
    for (const source of sources.slice(0, -1)) cpSync(join(ROOT, source), join(build, source), { recursive: true })
  }
  assert.ok(image.stages.build!.runs.includes('npm run build'))
  symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'))
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: build, stdio: 'ignore', timeout: 120_000 })
  // The deps stage copies the manifests; the final stage copies package.json, and dist from the build stage.
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(ROOT, file), join(app, file))
  for (const copy of image.copies) {
    const from = copy[0]!.startsWith('--from=') ? copy[0]!.slice('--from='.length) : undefined
    if (from === 'build') cpSync(join(build, relative('/app', copy[1]!)), join(app, copy[2]!), { recursive: true })
    else if (from === undefined) cpSync(join(ROOT, copy[0]!), join(app, copy[0]!), { recursive: true })
  }
  assert.ok(existsSync(join(app, 'dist', 'main.js')), 'the image holds the compiled entry point')
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
