// The real process: loopback binding, header limits and timeouts, startup over garbage, SIGTERM drain.
import { writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startChild } from '../helpers/process.ts'
import { tempDir } from '../helpers/tmp.ts'

const dir = tempDir()
test.after(() => dir.remove())

/** Opens a raw TCP connection, sends `data`, resolves with everything received until the server closes. */
function rawExchange(
  port: number,
  host: string,
  data: string,
  timeoutMs: number,
): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect(port, host, () => socket.write(data))
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk
    })
    socket.on('close', () => resolve({ text, closedAfterMs: performance.now() - started }))
    socket.on('error', reject)
    socket.setTimeout(timeoutMs, () => {
      socket.destroy()
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(text)}`))
    })
  })
}

/** A PUT that sends 1 of its 10 body bytes and then waits: a request in flight for as long as the test likes. */
async function startSlowPut(url: string): Promise<ReturnType<typeof httpRequest>> {
  const req = httpRequest({
    host: '127.0.0.1',
    port: new URL(url).port,
    method: 'PUT',
    path: '/v1/kv/app/slow',
    headers: { 'content-length': '10' },
  })
  req.on('error', () => {})
  req.write('x')
  await new Promise((r) => setTimeout(r, 100))
  return req
}

test('by default it listens on 127.0.0.1 only, and starts over a garbage database file', async () => {
  const dbPath = join(dir.path, 'garbage.db')
  writeFileSync(dbPath, Buffer.alloc(8192, 0xab))
  writeFileSync(`${dbPath}-wal`, Buffer.alloc(4096, 0xcd))
  const child = await startChild({ CACHECAR_DB_PATH: dbPath })
  try {
    assert.match(child.url, 'http://127.0.0.1:')
    assert.is((await fetch(`${child.url}/readyz`)).status, 200)
    const port = Number(new URL(child.url).port)
    const other = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.2')
      socket.on('connect', () => {
        socket.destroy()
        resolve('connected')
      })
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
    })
    assert.is(other, 'ECONNREFUSED', 'another loopback address is not served')
  } finally {
    child.process.kill('SIGKILL')
    await child.exited
  }
})

test('headers over MAX_HEADER_BYTES get 431; a client dribbling headers is cut off after HEADERS_TIMEOUT_MS', async () => {
  const child = await startChild({
    CACHECAR_DB_PATH: ':memory:',
    CACHECAR_MAX_HEADER_BYTES: '4KiB',
    CACHECAR_HEADERS_TIMEOUT_MS: '300ms',
  })
  try {
    const port = Number(new URL(child.url).port)
    const big = await rawExchange(
      port,
      '127.0.0.1',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`,
      5000,
    )
    assert.match(big.text, /^HTTP\/1\.1 431 /)
    const slow = await rawExchange(port, '127.0.0.1', 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 5000)
    assert.ok(
      slow.closedAfterMs >= 250 && slow.closedAfterMs < 3000,
      `closed after ${slow.closedAfterMs.toFixed(0)} ms`,
    )
    assert.is((await fetch(`${child.url}/healthz`)).status, 200, 'normal requests still work')
  } finally {
    child.process.kill('SIGKILL')
    await child.exited
  }
})

test('a connection that sends nothing is closed after HEADERS_TIMEOUT_MS without an unsolicited 408; a half-sent request gets its 408', async () => {
  // A client's spare pooled connection: a 408 written to it would be read as the answer to the next request sent on it.
  const child = await startChild({ CACHECAR_DB_PATH: ':memory:', CACHECAR_HEADERS_TIMEOUT_MS: '300ms' })
  try {
    const port = Number(new URL(child.url).port)
    const idle = await rawExchange(port, '127.0.0.1', '', 5000)
    assert.is(idle.text, '', 'nothing was written to a connection that never sent a request')
    assert.ok(
      idle.closedAfterMs >= 250 && idle.closedAfterMs < 3000,
      `closed after ${idle.closedAfterMs.toFixed(0)} ms`,
    )
    const half = await rawExchange(port, '127.0.0.1', 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 5000)
    assert.match(half.text, /^HTTP\/1\.1 408 /)
    assert.match(half.text, /"request-timeout"|request-timeout/)
  } finally {
    child.process.kill('SIGKILL')
    await child.exited
  }
})

test('a streamed body over MAX_VALUE_BYTES is refused with 413 before it ends, and nothing is stored', async () => {
  const child = await startChild({ CACHECAR_DB_PATH: ':memory:', CACHECAR_MAX_VALUE_BYTES: '64KiB' })
  try {
    const port = Number(new URL(child.url).port)
    let sent = 0
    // A raw socket sending a chunked body that never ends, until an answer arrives (or 64 MiB went out).
    const answer = await new Promise<string>((resolve) => {
      let received = ''
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('PUT /v1/kv/app/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
        const chunk = `4000\r\n${'a'.repeat(0x4000)}\r\n`
        const pump = () => {
          if (received || socket.destroyed || sent > 64 * 1024 * 1024) return
          sent += 0x4000
          if (socket.write(chunk)) setImmediate(pump)
          else socket.once('drain', pump)
        }
        pump()
      })
      socket.on('data', (d) => {
        received += d
        socket.destroy()
        resolve(received)
      })
      socket.on('error', () => resolve(received || 'error before any answer'))
      socket.on('close', () => resolve(received || 'closed before any answer'))
      socket.setTimeout(5000, () => socket.destroy())
    })
    assert.match(answer, /^HTTP\/1\.1 413 /)
    assert.ok(sent < 16 * 1024 * 1024, `the client got to send ${sent} bytes before the answer`)
    assert.is((await fetch(`${child.url}/v1/kv/app/big`)).status, 404)
  } finally {
    child.process.kill('SIGKILL')
    await child.exited
  }
})

test('SIGTERM: in-flight requests complete, new connections are refused, exit code 0', async () => {
  const child = await startChild({ CACHECAR_DB_PATH: join(dir.path, 'drain.db'), CACHECAR_SHUTDOWN_GRACE_MS: '5s' })
  const { port } = new URL(child.url)
  // A PUT whose body arrives in two parts, with SIGTERM in between.
  const response = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'PUT', path: '/v1/kv/app/inflight', headers: { 'content-length': '10' } },
      (res) => {
        let body = ''
        res.on('data', (c) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }))
      },
    )
    req.on('error', reject)
    req.write('hello')
    setTimeout(() => {
      child.process.kill('SIGTERM')
      setTimeout(() => req.end('world'), 300)
    }, 100)
  })
  await new Promise((r) => setTimeout(r, 200))
  const late = await new Promise<string>((resolve) => {
    const socket = connect(Number(port), '127.0.0.1')
    socket.on('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
  })
  assert.is(late, 'ECONNREFUSED', 'the listener closed at SIGTERM')
  const done = await response
  assert.is(done.status, 201, 'the in-flight write completed')
  assert.is(done.connection, 'close', 'the drain asked the response in flight to close its connection')
  const exit = await child.exited
  assert.is(exit.code, 0)
  assert.match(child.output(), '"event":"stopped","forced":false')
})

test('SIGTERM with a request that outlives the grace period: cut off, still exits', async () => {
  const child = await startChild({ CACHECAR_DB_PATH: ':memory:', CACHECAR_SHUTDOWN_GRACE_MS: '200ms' })
  const req = await startSlowPut(child.url)
  const started = performance.now()
  child.process.kill('SIGTERM')
  const exit = await child.exited
  assert.ok(performance.now() - started < 3000, 'exited soon after the grace period')
  assert.is(exit.code, 0)
  assert.match(child.output(), '"forced":true')
  req.destroy()
})

test('a second signal during the drain exits at once', async () => {
  const child = await startChild({ CACHECAR_DB_PATH: ':memory:', CACHECAR_SHUTDOWN_GRACE_MS: '60s' })
  const req = await startSlowPut(child.url)
  child.process.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 100))
  const started = performance.now()
  child.process.kill('SIGINT')
  const exit = await child.exited
  assert.ok(performance.now() - started < 2000)
  assert.is(exit.code, 1)
  req.destroy()
})

test.run()
