// A fill does not depend on any one client: a leader that never reads does not hold the requests collapsed on its
// fill, and a leader that leaves a response too large to keep fails no one else.
import { connect, type Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { eventually } from '../helpers/raw-upstream.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

let car: TestCachecar | undefined
let origin: FakeUpstream | undefined
const sockets: Socket[] = []

test.after.each(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await car?.shutdown()
  await origin?.close()
})

/** A client that sends a GET and then never reads: its socket's receive window fills and stays full. */
function stalledClient(port: number, path: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      socket.pause()
      resolve(socket)
    })
    socket.on('error', () => {})
    sockets.push(socket)
  })
}

test("a leader that never reads does not hold the requests collapsed on its fill: they get the stored copy at the upstream's pace", async () => {
  const size = 6 * 1024 ** 2
  origin = await fakeUpstream((_req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=600',
      'content-length': String(size),
      'content-type': 'application/octet-stream',
    })
    // Half now, half a moment later, so the others arrive while the fill is in flight.
    res.write(Buffer.alloc(size / 2, 1))
    setTimeout(() => res.end(Buffer.alloc(size / 2, 2)), 200)
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${origin.url}` })
  await stalledClient(car.port, '/u/api/big')
  assert.ok(await eventually(() => origin!.received.length === 1))
  const started = performance.now()
  const others = await Promise.all(
    [1, 2, 3].map(() =>
      fetch(`${car!.url}/u/api/big`, { signal: AbortSignal.timeout(10_000) }).then(async (r) => ({
        status: r.status,
        bytes: (await r.arrayBuffer()).byteLength,
      })),
    ),
  )
  assert.equal(
    others,
    [1, 2, 3].map(() => ({ status: 200, bytes: size })),
  )
  assert.ok(performance.now() - started < 5000, 'the others waited on the stalled leader')
  assert.is(origin.received.length, 1, 'one upstream request for all four')
})

test('a leader that leaves a response too large to keep fails no one collapsed on it: they fetch on their own', async () => {
  const piece = Buffer.alloc(256 * 1024, 7)
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  origin = await fakeUpstream((_req, res) => {
    // Chunked (no Content-Length), so its size shows only as it streams: 3 MiB against a 1 MiB object limit.
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'application/octet-stream' })
    res.write(piece)
    void held.then(async () => {
      for (let i = 1; i < 12; i++) {
        if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve))
      }
      res.end()
    })
  })
  car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${origin.url}`, CACHECAR_UPSTREAM_API_MAX_OBJECT_BYTES: '1MiB' })
  // The leader reads about 1.5 MiB, then goes away.
  const leader = new Promise<void>((resolve) => {
    const socket = connect(car!.port, '127.0.0.1', () => socket.write('GET /u/api/huge HTTP/1.1\r\nHost: x\r\n\r\n'))
    let received = 0
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength
      if (received > 1.5 * 1024 ** 2) {
        socket.destroy()
        resolve()
      }
    })
    socket.on('error', () => {})
    sockets.push(socket)
  })
  assert.ok(await eventually(() => origin!.received.length === 1))
  const others = [1, 2].map(() =>
    fetch(`${car!.url}/u/api/huge`, { signal: AbortSignal.timeout(10_000) }).then(async (r) => ({
      status: r.status,
      bytes: (await r.arrayBuffer()).byteLength,
    })),
  )
  await new Promise((resolve) => setTimeout(resolve, 200)) // the others reach cachecar and wait on the leader's fill
  release()
  await leader
  assert.equal(
    await Promise.all(others),
    [1, 2].map(() => ({ status: 200, bytes: 12 * piece.byteLength })),
  )
})

test.run()
