// Issue 6 faults: trickling and hanging upstreams release their sockets, herds share one upstream trip and its
// failure, a full disk and a locked database degrade to uncached serving, never to a crash or a 500.
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { Agent, fetch as undiciFetch } from 'undici'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { eventually, headersOf, rawUpstream } from '../helpers/raw-upstream.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

let car: TestCachecar | undefined
test.after.each(async () => {
  await car?.shutdown()
  car = undefined
})

/** How a fetch ended: the body read to its end, or the error that cut it. */
const outcomeOf = (url: string, init?: RequestInit) =>
  fetch(url, init)
    .then(async (r) => ({ status: r.status, body: await r.text() }))
    .then(
      (r) => ({ ...r, complete: true }),
      () => ({ status: 0, body: '', complete: false }),
    )

test('a body trickling slower than the body timeout: the client response is aborted, nothing stored, the socket freed', async () => {
  const upstream = await rawUpstream((socket) => {
    socket.write(headersOf(200, 'cache-control: max-age=60\r\ncontent-length: 100\r\n'))
    const drip = setInterval(() => (socket.writable ? socket.write('x') : clearInterval(drip)), 1000)
    socket.on('close', () => clearInterval(drip))
  })
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_BODY_TIMEOUT_MS: '300ms',
  })
  const started = performance.now()
  const first = await outcomeOf(`${car.url}/u/api/slow`)
  const elapsed = performance.now() - started
  assert.is(first.complete, false, 'a cut body never passes for complete')
  assert.ok(elapsed < 3000, `cut after ${elapsed.toFixed(0)} ms`)
  assert.ok(await eventually(() => upstream.open() === 0), 'cachecar closed its upstream socket')
  await outcomeOf(`${car.url}/u/api/slow`)
  assert.is(upstream.connections(), 2, 'nothing was stored')
  await upstream.close()
})

test('an upstream hanging before headers: 504 within the headers timeout, and the socket is freed', async () => {
  const upstream = await rawUpstream(() => {})
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_UPSTREAM_API_HEADERS_TIMEOUT_MS: '250ms',
  })
  for (let i = 0; i < 3; i++) assert.is((await car.get(`/u/api/hang${i}`)).status, 504)
  assert.ok(await eventually(() => upstream.open() === 0), `${upstream.open()} upstream sockets still open`)
  await upstream.close()
})

/** 1,000 requests at once on a fresh client pool (one socket each), as 1,000 app threads would send them. */
async function herd(url: string): Promise<{ status: number; body: string; cacheStatus: string }[]> {
  const client = new Agent({ connections: 1000 })
  try {
    return await Promise.all(
      Array.from({ length: 1000 }, () =>
        undiciFetch(url, { dispatcher: client }).then(async (r) => ({
          status: r.status,
          body: await r.text(),
          cacheStatus: r.headers.get('cache-status') ?? '',
        })),
      ),
    )
  } finally {
    await client.close()
  }
}

test('a herd of 1,000 on a cold key whose upstream fails: one upstream request, every waiter the same error', async () => {
  // The failure comes late enough that all 1,000 requests have arrived: a failure is not cached, so a request
  // arriving after it would rightly start a new trip.
  const upstream = await rawUpstream((socket) => setTimeout(() => socket.destroy(), 1500))
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  const answers = await herd(`${car.url}/u/api/cold`)
  assert.is(upstream.connections(), 1)
  assert.equal([...new Set(answers.map((a) => a.status))], [502])
  assert.is(new Set(answers.map((a) => a.body)).size, 1, 'every waiter got the same problem')
  assert.match(answers[0]!.body, 'urn:cachecar:problem:upstream-unreachable')
  await upstream.close()
})

test('a herd of 1,000 on a stale key whose upstream fails: one upstream request, every waiter the same stale copy', async () => {
  let failing = false
  const upstream = await fakeUpstream((_req, res) => {
    if (failing) setTimeout(() => res.socket?.destroy(), 1500)
    else
      res
        .writeHead(200, {
          'cache-control': 'max-age=1, stale-if-error=600',
          etag: '"v1"',
          date: new Date(car!.clock.now()).toUTCString(),
        })
        .end('the stale copy')
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  assert.is((await car.get('/u/api/page')).body, 'the stale copy')
  car.clock.advance(5000)
  failing = true
  const answers = await herd(`${car.url}/u/api/page`)
  assert.is(upstream.received.length, 2, 'the fill, then one revalidation for the whole herd')
  assert.equal([...new Set(answers.map((a) => `${a.status} ${a.body}`))], ['200 the stale copy'])
  assert.ok(
    answers.every((a) => a.cacheStatus.includes('fwd=stale') && a.cacheStatus.includes('detail=stale-if-error')),
    answers[0]!.cacheStatus,
  )
  await upstream.close()
})

test('a herd of 1,000 on a stale key whose upstream answers 304: one upstream request, every waiter the body', async () => {
  const upstream = await fakeUpstream((req, res) => {
    const headers = { 'cache-control': 'max-age=1', etag: '"v1"', date: new Date(car!.clock.now()).toUTCString() }
    if (req.headers['if-none-match'] === '"v1"') setTimeout(() => res.writeHead(304, headers).end(), 100)
    else res.writeHead(200, headers).end('validated body')
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${upstream.url}` })
  await car.get('/u/api/page')
  car.clock.advance(5000)
  const answers = await herd(`${car.url}/u/api/page`)
  assert.is(upstream.received.length, 2)
  assert.equal([...new Set(answers.map((a) => `${a.status} ${a.body}`))], ['200 validated body'])
  await upstream.close()
})

/** A tiny tmpfs when running as root (a real full disk); otherwise a page cap well below the byte budget. */
function smallDisk(dir: string): { path: string; sqlite?: { maxPages: number }; release: () => void } {
  const mount = join(dir, 'tiny')
  mkdirSync(mount)
  try {
    if (process.getuid?.() !== 0) throw new Error('not root')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount], { stdio: 'ignore' })
    return {
      path: join(mount, 'cachecar.db'),
      release: () => execFileSync('umount', ['-l', mount], { stdio: 'ignore' }),
    }
  } catch {
    return { path: join(dir, 'cachecar.db'), sqlite: { maxPages: 64 }, release: () => {} }
  }
}

test('a full disk: KV writes evict or get 507, reads keep working, the proxy keeps serving uncached', async () => {
  const dir = tempDir()
  const disk = smallDisk(dir.path)
  try {
    const body = 'p'.repeat(200 * 1024)
    const upstream = await fakeUpstream((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=600' }).end(body))
    // The budget says 64 MiB; the disk holds 1 MiB: SQLite meets the disk's end long before the budget.
    car = await startCachecar(
      {
        CACHECAR_DB_PATH: disk.path,
        CACHECAR_MAX_BYTES: '64MiB',
        CACHECAR_MEMORY_BYTES: '0',
        CACHECAR_UPSTREAMS: `api=${upstream.url}`,
      },
      undefined,
      disk.sqlite && { sqlite: disk.sqlite },
    )
    assert.is((await fetch(`${car.url}/v1/kv/app/kept`, { method: 'PUT', body: 'small and early' })).status, 201)
    const statuses = new Set<number>()
    for (let i = 0; i < 30; i++) {
      // 100 KiB values live in the database, 150 KiB ones in value files beside it: both meet the full disk.
      const response = await fetch(`${car.url}/v1/kv/app/big${i}`, {
        method: 'PUT',
        body: 'b'.repeat((i % 2 ? 150 : 100) * 1024),
      })
      statuses.add(response.status)
      if (response.status !== 201) assert.is(response.headers.get('content-type'), 'application/problem+json')
    }
    assert.ok(
      [...statuses].every((s) => s === 201 || s === 507),
      `statuses ${[...statuses]}`,
    )
    const last = await fetch(`${car.url}/v1/kv/app/big29`)
    assert.ok(last.status === 200 || last.status === 404, 'reads keep working')
    for (let i = 0; i < 8; i++) {
      const page = await outcomeOf(`${car.url}/u/api/page${i}`)
      assert.is(page.status, 200)
      assert.is(page.body.length, body.length, 'served whole, stored or not')
    }
    assert.is((await fetch(`${car.url}/readyz`)).status, 200)
    await upstream.close()
  } finally {
    await car?.shutdown()
    car = undefined
    disk.release()
    dir.remove()
  }
})

test('a second connection holding the write lock: KV writes get 503 with Retry-After, the proxy serves without storing', async () => {
  const dir = tempDir()
  const path = join(dir.path, 'locked.db')
  const upstream = await fakeUpstream((_req, res) =>
    res.writeHead(200, { 'cache-control': 'max-age=600' }).end('fresh'),
  )
  car = await startCachecar({ CACHECAR_DB_PATH: path, CACHECAR_UPSTREAMS: `api=${upstream.url}` }, undefined, {
    sqlite: { lockingMode: 'normal', retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } },
  })
  await fetch(`${car.url}/v1/kv/app/before`, { method: 'PUT', body: 'written before the lock' })
  const other = new DatabaseSync(path)
  other.exec('PRAGMA busy_timeout = 0; BEGIN IMMEDIATE')
  try {
    const started = performance.now()
    const write = await fetch(`${car.url}/v1/kv/app/k`, { method: 'PUT', body: 'v' })
    assert.ok(performance.now() - started < 2000, 'the wait is bounded')
    assert.is(write.status, 503)
    assert.is(write.headers.get('retry-after'), '1')
    assert.match(await write.text(), 'urn:cachecar:problem:store-busy')
    assert.is(
      await (await fetch(`${car.url}/v1/kv/app/before`)).text(),
      'written before the lock',
      'reads keep working',
    )
    assert.is((await car.get('/u/api/page')).body, 'fresh')
    assert.ok(
      await eventually(() => car!.logs.some((line) => line.includes('"event":"proxy_store_failed"'))),
      'the failed store is logged',
    )
    const again = await car.get('/u/api/page')
    assert.is(again.body, 'fresh')
    assert.match(again.headers.get('cache-status') ?? '', 'fwd=uri-miss')
    assert.is(upstream.received.length, 2, 'served, not stored')
  } finally {
    other.exec('ROLLBACK')
    other.close()
  }
  assert.is(
    (await fetch(`${car.url}/v1/kv/app/k`, { method: 'PUT', body: 'v' })).status,
    201,
    'writes resume once the lock is gone',
  )
  await upstream.close()
  await car.shutdown()
  car = undefined
  dir.remove()
})

test.run()
