// The hostile clients of npm run abuse, in a process of their own (started by bench/abuse.ts): readers that never
// read an 8 MB value, pipelined GETs of it never read either, bulk gets of an 8 MB value in a loop, deeply nested
// JSON in a loop, ABUSE_WRITERS (10) concurrent 8 MB writes in loops. Runs until ABUSE_UNTIL (epoch ms) against
// ABUSE_URL.
import { connect, type Socket } from 'node:net'

const url = process.env.ABUSE_URL!
const until = Number(process.env.ABUSE_UNTIL)
const only = new Set((process.env.ABUSE_ONLY ?? '').split(','))
const BIG = 8 * 1024 ** 2
/** Concurrent writers of 8 MB values (ABUSE_WRITERS, 10 by default). */
const WRITERS = Number(process.env.ABUSE_WRITERS ?? 10)

/** A connection that sends `data` and reads nothing. */
function silent(data: string): Socket {
  const socket = connect(Number(new URL(url).port), '127.0.0.1', () => socket.write(data))
  socket.pause()
  socket.on('error', () => {})
  return socket
}

async function loop(work: () => Promise<unknown>): Promise<void> {
  while (Date.now() < until) await work().catch(() => {})
}

const post = (path: string, body: string | Buffer, method = 'POST') =>
  fetch(`${url}${path}`, { method, body, headers: { 'content-type': 'application/json' } }).then((r) => r.arrayBuffer())

const sockets: Socket[] = []
const get8 = 'GET /v1/kv/app/v8 HTTP/1.1\r\nHost: x\r\n\r\n'
if (only.has('stalled')) for (let i = 0; i < 40; i++) sockets.push(silent(get8))
if (only.has('pipelined')) for (let i = 0; i < 2; i++) sockets.push(silent(get8.repeat(30)))
const deep = `{"data":{"x":${'['.repeat(20_000)}1${']'.repeat(20_000)}}}`
const value = Buffer.alloc(BIG, 2)
let writes = 0
await Promise.all([
  only.has('bulk') && loop(() => post('/v1/kv/app/_bulk', JSON.stringify({ get: Array(1000).fill('random8') }))),
  only.has('deep') && loop(() => post('/v1/sessions', deep)),
  ...(only.has('writes')
    ? Array.from({ length: WRITERS }, () => loop(() => post(`/v1/kv/abuse/w${writes++ % 40}`, value, 'PUT')))
    : []),
  new Promise((resolve) => setTimeout(resolve, until - Date.now())),
])
for (const socket of sockets) socket.destroy()
