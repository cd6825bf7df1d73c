// Raw TCP upstreams for fault tests: each connection gets a hand-written (often broken) HTTP answer.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'

export interface RawUpstream {
  readonly url: string
  /** Connections accepted so far. */
  connections(): number
  /** Connections still open now: a proxy that released its sockets leaves none. */
  open(): number
  close(): Promise<void>
}

/** A raw TCP upstream that answers each connection's first bytes with `script`. */
export async function rawUpstream(script: (socket: Socket) => void, host = '127.0.0.1'): Promise<RawUpstream> {
  let connections = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.once('data', () => script(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    open: () => sockets.size,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    }),
  }
}

/** A status line, a Date field and `extra` (each line ending in CRLF), then the blank line. */
export const headersOf = (status: number, extra: string) => `HTTP/1.1 ${status} X\r\ndate: ${new Date().toUTCString()}\r\n${extra}\r\n`

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(condition: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}
