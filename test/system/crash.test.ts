// Issue 6 process faults: SIGKILL under write load (20 times, once over a garbage file) and SIGTERM under steady
// load. The real process, the real file database.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startChild } from '../helpers/process.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

const dir = tempDir()
test.after(() => dir.remove())

/** Writers that PUT in a loop until `stop()`; resolves with how many writes succeeded. */
function writeLoad(url: string, writers: number): { stop: () => Promise<number> } {
  let running = true
  let written = 0
  const client = new Agent({ connections: writers })
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; running; i++) {
      try {
        const response = await request(`${url}/v1/kv/load/w${w}-${i % 50}`, {
          method: 'PUT',
          body: 'x'.repeat(2048),
          dispatcher: client,
        })
        await response.body.dump()
        if (response.statusCode === 201 || response.statusCode === 200) written++
      } catch {
        return // killed under us: expected
      }
    }
  })
  return {
    stop: async () => {
      running = false
      await Promise.all(loops)
      await client.destroy()
      return written
    },
  }
}

test('SIGKILL under write load, 20 times in a row, once over a garbage file: every restart is healthy within 2 s', async () => {
  const path = join(dir.path, 'killed.db')
  const env = { CACHECAR_DB_PATH: path, CACHECAR_LOG_LEVEL: 'info' }
  for (let round = 0; round < 20; round++) {
    if (round === 10) {
      writeFileSync(path, 'not a database '.repeat(1000))
      writeFileSync(`${path}-wal`, Buffer.alloc(8192, 0xab))
    }
    const started = performance.now()
    const child = await startChild(env)
    const ready = await fetch(`${child.url}/readyz`)
    const elapsed = performance.now() - started
    assert.is(ready.status, 200, `round ${round}`)
    assert.ok(elapsed < 2000, `round ${round}: healthy after ${elapsed.toFixed(0)} ms`)
    // Every start is empty: nothing written before the kill survives.
    assert.is((await fetch(`${child.url}/v1/kv/load/w0-0`)).status, 404, `round ${round} started empty`)
    const load = writeLoad(child.url, 8)
    await new Promise((resolve) => setTimeout(resolve, 100 + (round % 4) * 50))
    child.process.kill('SIGKILL')
    const { signal } = await child.exited
    assert.is(signal, 'SIGKILL')
    assert.ok((await load.stop()) > 0, `round ${round}: writes were landing when the kill came`)
  }
})

test('SIGTERM under steady load: no request fails, in-flight requests complete, exit 0 within the grace period', async () => {
  const upstream = await fakeUpstream((_req, res) =>
    setTimeout(() => res.writeHead(200, { 'cache-control': 'no-store' }).end('slow answer'), 400),
  )
  const child = await startChild({
    CACHECAR_DB_PATH: join(dir.path, 'drain-load.db'),
    CACHECAR_SHUTDOWN_GRACE_MS: '5s',
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
  })
  await fetch(`${child.url}/v1/kv/app/k`, { method: 'PUT', body: 'steady' })
  const client = new Agent({ connections: 16 })
  let stopped = false
  const failures: string[] = []
  let served = 0
  // Keep-alive clients reading as fast as they can; once the listener is gone, new connections are refused.
  const loops = Array.from({ length: 16 }, async () => {
    while (!stopped) {
      try {
        const response = await request(`${child.url}/v1/kv/app/k`, { dispatcher: client })
        const body = await response.body.text()
        if (response.statusCode !== 200 || body !== 'steady') failures.push(`${response.statusCode} ${body}`)
        served++
      } catch (error) {
        const code = (error as { code?: string }).code ?? ''
        if (code === 'ECONNREFUSED' || (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') return
        failures.push(`${code} ${(error as Error).message}`)
        return
      }
    }
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const inFlight = request(`${child.url}/u/api/slow`).then(async (r) => `${r.statusCode} ${await r.body.text()}`)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const signalledAt = performance.now()
  child.process.kill('SIGTERM')
  const exit = await child.exited
  const drainMs = performance.now() - signalledAt
  stopped = true
  await Promise.all(loops)
  await client.destroy()
  assert.equal(failures, [], 'no reset, no error answer')
  assert.ok(served > 100, `${served} requests served`)
  assert.is(await inFlight, '200 slow answer', 'the in-flight proxy request completed')
  assert.equal(exit, { code: 0, signal: null })
  assert.ok(drainMs < 5000, `exited ${drainMs.toFixed(0)} ms after SIGTERM`)
  await upstream.close()
})

test.run()
