// Bounded under abuse: requests built to exhaust memory or the stack get a 4xx problem naming the bound, never a 500.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync, statSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { jsonDepth } from '../../src/http/body.ts'
import { SLICE_BYTES } from '../../src/http/slices.ts'
import { problemOf, testApp } from '../helpers/app.ts'
import { startCachecar } from '../helpers/cachecar.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

const json = (body: string, method = 'POST', type = 'application/json') => ({
  method,
  body,
  headers: { 'content-type': type },
})
const nested = (levels: number, inner = '1') => '['.repeat(levels) + inner + ']'.repeat(levels)
const nestedObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`

test('JSON nested 20,000 levels deep is a 400 naming the limit on every JSON route, never a 500', async () => {
  const app = testApp()
  const created = await app.request('/v1/sessions', json('{"data":{"user":"u1"}}'))
  const { id } = (await created.json()) as { id: string }
  const deep = 20_000
  for (const [path, init] of [
    ['/v1/sessions', json(`{"data":{"x":${nestedObject(deep)}}}`)],
    [`/v1/sessions/${id}`, json(`{"data":{"x":${nested(deep)}}}`, 'PUT')],
    [`/v1/sessions/${id}`, json(nestedObject(deep), 'PATCH', 'application/merge-patch+json')],
    ['/v1/kv/app/_bulk', json(`{"set":[{"key":"k","value":"v","tags":${nested(deep, '"t"')}}]}`)],
    ['/v1/kv/app/_bulk', json(`{"get":${nested(deep, '"k"')}}`)],
    ['/v1/kv/_purge', json(`{"tags":${nested(deep, '"t"')}}`)],
  ] as const) {
    const response = await app.request(path, init)
    assert.is(response.status, 400, `${init.method} ${path}`)
    const problem = (await problemOf(response)) as { type: string; limit?: number; detail: string }
    assert.is(problem.type, 'urn:cachecar:problem:json-too-deep')
    assert.is(problem.limit, 64)
    assert.match(problem.detail, 'CACHECAR_MAX_JSON_DEPTH')
  }
  // At the limit it is accepted; brackets inside strings are data, not nesting.
  const data = `{"data":{"x":${nested(62)},"s":"${'['.repeat(500)}"}}`
  assert.is((await app.request(`/v1/sessions/${id}`, json(data, 'PUT'))).status, 200)
  assert.is((await app.request(`/v1/sessions/${id}`)).status, 200)
})

test('the purge route bounds JSON depth too', async () => {
  const car = await startCachecar({ CACHECAR_UPSTREAMS: 'api=http://127.0.0.1:9' })
  try {
    const response = await fetch(`${car.url}/v1/cache/purge`, json(`{"surrogateKeys":${nested(20_000, '"k"')}}`))
    assert.is(response.status, 400)
    assert.is((await problemOf(response)).type, 'urn:cachecar:problem:json-too-deep')
  } finally {
    await car.shutdown()
  }
})

test('a bulk get answers a repeated key once, and refuses an answer larger than CACHECAR_MAX_BULK_BYTES before building it', async () => {
  const app = testApp({ CACHECAR_MAX_BULK_BYTES: '4MiB' })
  const mib = 'x'.repeat(1024 ** 2)
  for (const key of ['v0', 'v1', 'v2', 'v3', 'v4'])
    assert.is((await app.request(`/v1/kv/app/${key}`, { method: 'PUT', body: mib })).status, 201)
  // 160 bytes asking for one 1 MiB value 1,000 times: one copy in the answer, not a gigabyte.
  const repeated = await app.request('/v1/kv/app/_bulk', json(JSON.stringify({ get: Array(1000).fill('v0') })))
  assert.is(repeated.status, 200)
  const text = await repeated.text()
  assert.ok(text.length < 1.1 * 1024 ** 2, `answer of ${text.length} bytes`)
  const body = JSON.parse(text) as { items: { key: string; found: boolean; value: string }[] }
  assert.equal(
    body.items.map((item) => [item.key, item.found, item.value.length]),
    [['v0', true, 1024 ** 2]],
  )
  // Five distinct 1 MiB values are more than the 4 MiB an answer may hold.
  const tooMuch = await app.request(
    '/v1/kv/app/_bulk',
    json(JSON.stringify({ get: ['v0', 'v1', 'v2', 'v3', 'v4', 'nope'] })),
  )
  assert.is(tooMuch.status, 413)
  const problem = (await problemOf(tooMuch)) as { detail: string; limit?: number }
  assert.match(problem.detail, 'CACHECAR_MAX_BULK_BYTES')
  assert.is(problem.limit, 4 * 1024 ** 2)
  const fits = await app.request('/v1/kv/app/_bulk', json(JSON.stringify({ get: ['v0', 'nope', 'v1'] })))
  assert.equal(
    ((await fits.json()) as { items: { key: string; found: boolean }[] }).items.map((i) => [i.key, i.found]),
    [
      ['v0', true],
      ['nope', false],
      ['v1', true],
    ],
  )
})

test('the depth scan follows JSON strings and escapes', () => {
  assert.is(jsonDepth('{"a":[1,{"b":[]}]}'), 4)
  assert.is(jsonDepth('"[[[[" '), 0)
  assert.is(jsonDepth('["\\\\", ["\\"[[["]]'), 2)
  assert.is(jsonDepth(nested(100)), 100)
})

/** A connection that sends `data` and then reads nothing; resolves when the server closes it. */
function silentClient(port: number, data: string): { socket: Socket; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1', () => socket.write(data))
  socket.pause()
  socket.on('error', () => {})
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve())) }
}

test('30 pipelined GETs of an 8 MB value on a connection that reads nothing hold one answer, not thirty', async () => {
  const car = await startCachecar({
    CACHECAR_MAX_BYTES: '256MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
    CACHECAR_MEMORY_BYTES: '0',
  })
  try {
    assert.is(
      (await fetch(`${car.url}/v1/kv/app/v8`, { method: 'PUT', body: Buffer.alloc(8 * 1024 ** 2, 1) })).status,
      201,
    )
    const before = process.memoryUsage().arrayBuffers
    const { socket } = silentClient(car.port, 'GET /v1/kv/app/v8 HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(30))
    // Long enough for every request to be read and, before, answered into memory.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const held = process.memoryUsage().arrayBuffers - before
    socket.destroy()
    assert.ok(held < 40 * 1024 ** 2, `${Math.round(held / 1024 ** 2)} MiB of answers held for one connection`)
  } finally {
    await car.shutdown()
  }
})

test('a response whose client stops reading is cut after CACHECAR_SEND_TIMEOUT_MS', async () => {
  const car = await startCachecar({
    CACHECAR_MAX_BYTES: '256MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
    CACHECAR_SEND_TIMEOUT_MS: '500ms',
  })
  try {
    assert.is(
      (await fetch(`${car.url}/v1/kv/app/v8`, { method: 'PUT', body: Buffer.alloc(8 * 1024 ** 2, 1) })).status,
      201,
    )
    const { socket, closed } = silentClient(car.port, 'GET /v1/kv/app/v8 HTTP/1.1\r\nHost: x\r\n\r\n')
    // Past the send timeout, the client starts reading: it finds a connection cut short, not the whole answer.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    let received = 0
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength
    })
    socket.resume()
    const ended = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
    ])
    assert.ok(ended, 'the connection was still open')
    assert.ok(received < 8 * 1024 ** 2, `the whole answer (${received} bytes) was still held for the stalled client`)
    // A client that reads slowly but steadily is not cut.
    const response = await fetch(`${car.url}/v1/kv/app/v8`)
    assert.is((await response.arrayBuffer()).byteLength, 8 * 1024 ** 2)
  } finally {
    await car.shutdown()
  }
})

/** Bytes under `dir` now (files only, one level of subfolders: the database, its WAL and shm, value files). */
function bytesUnder(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    try {
      if (entry.isDirectory()) for (const inner of readdirSync(path)) total += statSync(join(path, inner)).size
      else total += statSync(path).size
    } catch {
      // Deleted between listing and stat: it no longer counts.
    }
  }
  return total
}

test('40 concurrent 8 MB writes on a 64 MiB budget keep the disk within budget + 10 %; the ones without room get 507', async () => {
  const dir = tempDir()
  const car = await startCachecar({
    CACHECAR_DB_PATH: join(dir.path, 'cachecar.db'),
    CACHECAR_MAX_BYTES: '64MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
  })
  let peak = 0
  const sampler = setInterval(() => {
    peak = Math.max(peak, bytesUnder(dir.path))
  }, 2)
  try {
    const value = Buffer.alloc(8 * 1024 ** 2, 3)
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${car.url}/v1/kv/app/big${i}`, { method: 'PUT', body: value }).then((r) => r.status),
      ),
    )
    clearInterval(sampler)
    peak = Math.max(peak, bytesUnder(dir.path))
    assert.ok(
      statuses.every((status) => status === 201 || status === 507),
      `statuses: ${statuses.join(' ')}`,
    )
    assert.ok(statuses.includes(201), 'no write landed')
    assert.ok(
      peak <= 64 * 1024 ** 2 * 1.1,
      `the disk peaked at ${(peak / 1024 ** 2).toFixed(1)} MiB on a 64 MiB budget`,
    )
  } finally {
    clearInterval(sampler)
    await car.shutdown()
    dir.remove()
  }
})

test('40 clients that never read an 8 MB value share one copy of it, not 40', async () => {
  const dir = tempDir()
  const car = await startCachecar({
    CACHECAR_DB_PATH: join(dir.path, 'cachecar.db'),
    CACHECAR_MAX_BYTES: '256MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
  })
  const clients: Socket[] = []
  try {
    assert.is(
      (await fetch(`${car.url}/v1/kv/app/v8`, { method: 'PUT', body: Buffer.alloc(8 * 1024 ** 2, 1) })).status,
      201,
    )
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 40; i++)
      clients.push(silentClient(car.port, 'GET /v1/kv/app/v8 HTTP/1.1\r\nHost: x\r\n\r\n').socket)
    await new Promise((resolve) => setTimeout(resolve, 1500)) // every answer is started and queued for its client
    const held = process.memoryUsage().arrayBuffers - before
    assert.ok(
      held < 40 * 1024 ** 2,
      `${Math.round(held / 1024 ** 2)} MiB held for 40 stalled readers of one 8 MB value`,
    )
  } finally {
    for (const client of clients) client.destroy()
    await car.shutdown()
    dir.remove()
  }
})

/** Bytes cachecar has queued (beyond what the kernel took) on the sockets of its connections. */
function queuedBytes(sockets: readonly Socket[]): number {
  return sockets.reduce((sum, socket) => sum + socket.writableLength, 0)
}

test('clients that stop reading a large value or a large stored response have a slice each queued in cachecar, not the body', async () => {
  const origin = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'application/octet-stream' })
    res.end(Buffer.alloc(4 * 1024 ** 2, 7))
  })
  const car = await startCachecar({
    CACHECAR_MAX_BYTES: '256MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
    CACHECAR_UPSTREAMS: `api=${origin.url}`,
  })
  const accepted: Socket[] = []
  car.server.on('connection', (socket: Socket) => accepted.push(socket))
  const clients: Socket[] = []
  try {
    assert.is(
      (await fetch(`${car.url}/v1/kv/app/v8`, { method: 'PUT', body: Buffer.alloc(8 * 1024 ** 2, 1) })).status,
      201,
    )
    assert.is((await (await fetch(`${car.url}/u/api/big`)).arrayBuffer()).byteLength, 4 * 1024 ** 2) // stored
    accepted.length = 0
    for (let i = 0; i < 10; i++) {
      clients.push(silentClient(car.port, 'GET /v1/kv/app/v8 HTTP/1.1\r\nHost: x\r\n\r\n').socket)
      clients.push(silentClient(car.port, 'GET /u/api/big HTTP/1.1\r\nHost: x\r\n\r\n').socket)
    }
    await eventually(() => accepted.length === 20 && accepted.every((socket) => socket.bytesWritten > 0))
    await new Promise((resolve) => setTimeout(resolve, 500)) // the kernel's buffers are full; the rest waits in cachecar
    const queued = queuedBytes(accepted)
    assert.ok(queued <= 20 * 2 * SLICE_BYTES, `${(queued / 1024 ** 2).toFixed(1)} MiB queued for 20 stalled clients`)
  } finally {
    for (const client of clients) client.destroy()
    await car.shutdown()
    await origin.close()
  }
})

test('stalled clients of a bulk get that answers 10.7 MB have a slice of it each queued, not the answer', async () => {
  const car = await startCachecar({
    CACHECAR_MAX_BYTES: '256MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
    CACHECAR_MAX_BULK_BYTES: '16MiB',
    CACHECAR_MEMORY_BYTES: '0',
  })
  const accepted: Socket[] = []
  car.server.on('connection', (socket: Socket) => accepted.push(socket))
  const clients: Socket[] = []
  try {
    // Random bytes are not UTF-8: the answer carries them as base64, 10.7 MB.
    assert.is((await fetch(`${car.url}/v1/kv/app/v8`, { method: 'PUT', body: randomBytes(8 * 1024 ** 2) })).status, 201)
    accepted.length = 0
    const body = JSON.stringify({ get: ['v8'] })
    const request = `POST /v1/kv/app/_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    for (let i = 0; i < 10; i++) clients.push(silentClient(car.port, request).socket)
    await eventually(() => accepted.length === 10 && accepted.every((socket) => socket.bytesWritten > 0))
    await new Promise((resolve) => setTimeout(resolve, 500)) // the kernel's buffers are full; the rest waits in cachecar
    // Whole answers built up front were queued here: 107 MB for ten clients (and 371 MiB of memory while built).
    const queued = queuedBytes(accepted)
    assert.ok(
      queued <= 10 * 2 * SLICE_BYTES,
      `${(queued / 1024 ** 2).toFixed(1)} MiB queued for 10 stalled bulk readers`,
    )
  } finally {
    for (const client of clients) client.destroy()
    await car.shutdown()
  }
})

test('twelve concurrent 8 MB PUTs hold at most CACHECAR_BODY_MEMORY_BYTES of bodies at once, and all of them land', async () => {
  const car = await startCachecar({
    CACHECAR_MAX_BYTES: '256MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
    CACHECAR_BODY_MEMORY_BYTES: '8MiB',
    CACHECAR_MEMORY_BYTES: '0',
  })
  // What cachecar has taken in from the connections still open: body bytes it holds, or is about to.
  const accepted: Socket[] = []
  car.server.on('connection', (socket: Socket) => accepted.push(socket))
  let peak = 0
  const sampler = setInterval(() => {
    peak = Math.max(
      peak,
      accepted.reduce((sum, socket) => sum + (socket.destroyed ? 0 : socket.bytesRead), 0),
    )
  }, 2)
  try {
    const statuses = await Promise.all(
      Array.from(
        { length: 12 },
        (_, i) =>
          new Promise<number>((resolve, reject) => {
            // Raw sockets: fetch would hold each request body in this process too, hiding cachecar's share.
            const socket = connect(car.port, '127.0.0.1', () => {
              socket.write(
                `PUT /v1/kv/app/w${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * 1024 ** 2}\r\nConnection: close\r\n\r\n`,
              )
              const slice = Buffer.alloc(1024 ** 2, i)
              void (async () => {
                for (let sent = 0; sent < 8; sent++) if (!socket.write(slice)) await once(socket, 'drain')
              })()
            })
            let head = ''
            socket.on('data', (chunk: Buffer) => {
              head += chunk.toString('latin1')
            })
            socket.on('close', () => resolve(Number(head.slice(9, 12))))
            socket.on('error', reject)
          }),
      ),
    )
    clearInterval(sampler)
    assert.equal(statuses, Array(12).fill(201))
    // One body at a time (two for a moment: a connection closes just after its room is given back), and what Node
    // reads ahead on paused connections; without the budget all twelve bodies were read at once.
    assert.ok(peak < 18 * 1024 ** 2, `${(peak / 1024 ** 2).toFixed(1)} MiB read from connections at the peak`)
  } finally {
    clearInterval(sampler)
    await car.shutdown()
  }
})

test('while large bodies fill the budget, small writes go through, and a waiting large write lands once a sender gives up', async () => {
  const car = await startCachecar({
    CACHECAR_MAX_BYTES: '256MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
    CACHECAR_BODY_MEMORY_BYTES: '16MiB',
  })
  const senders: Socket[] = []
  try {
    // Two clients declare 8 MB and send 1 MB of it: they hold the whole budget.
    for (let i = 0; i < 2; i++) {
      const socket = connect(car.port, '127.0.0.1', () => {
        socket.write(`PUT /v1/kv/app/slow${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * 1024 ** 2}\r\n\r\n`)
        socket.write(Buffer.alloc(1024 ** 2))
      })
      socket.on('error', () => {})
      senders.push(socket)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
    const waiting = fetch(`${car.url}/v1/kv/app/large`, { method: 'PUT', body: Buffer.alloc(4 * 1024 ** 2, 5) })
    let landed = false
    void waiting.then(() => {
      landed = true
    })
    const small = await fetch(`${car.url}/v1/kv/app/small`, { method: 'PUT', body: 'x'.repeat(1024) })
    assert.is(small.status, 201)
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.is(landed, false, 'the large write did not wait for room')
    senders[0]!.destroy()
    assert.is((await waiting).status, 201)
    assert.is((await (await fetch(`${car.url}/v1/kv/app/large`)).arrayBuffer()).byteLength, 4 * 1024 ** 2)
  } finally {
    for (const socket of senders) socket.destroy()
    await car.shutdown()
  }
})

/** Resolves with the first bytes the server sends on a new connection that asks for /healthz, or '' if it is closed. */
function askOnNewConnection(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    )
    let answer = ''
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1')
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve(answer))
  })
}

test('connections beyond CACHECAR_MAX_CONNECTIONS are closed on arrival and counted; those open are still served', async () => {
  const car = await startCachecar({ CACHECAR_MAX_CONNECTIONS: '3' })
  const held: Socket[] = []
  try {
    for (let i = 0; i < 3; i++) {
      const socket = connect(car.port, '127.0.0.1')
      socket.on('error', () => {})
      await once(socket, 'connect')
      held.push(socket)
    }
    await eventually(
      () => new Promise<boolean>((resolve) => car.server.getConnections((_, count) => resolve(count === 3))),
    )
    assert.is(await askOnNewConnection(car.port), '', 'a fourth connection was served')
    // The connections already open are served as before.
    const answered = once(held[0]!, 'data')
    held[0]!.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    assert.match(String((await answered)[0]), /^HTTP\/1.1 200/)
    held[1]!.destroy()
    await eventually(
      () => new Promise<boolean>((resolve) => car.server.getConnections((_, count) => resolve(count === 2))),
    )
    assert.match(await askOnNewConnection(car.port), /^HTTP\/1.1 200/)
    assert.match((await car.get('/metrics')).body, /cachecar_connections_dropped_total 1\b/)
  } finally {
    for (const socket of held) socket.destroy()
    await car.shutdown()
  }
})

test.run()
