// Raw TCP both ways for fault and attack tests: upstreams that answer with hand-written (often broken) HTTP, and a
// client that sends bytes exactly as written.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'

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
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** A status line, a Date field and `extra` (each line ending in CRLF), then the blank line. */
export const headersOf = (status: number, extra: string) =>
  `HTTP/1.1 ${status} X\r\ndate: ${new Date().toUTCString()}\r\n${extra}\r\n`

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 2000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!(await condition())) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}

/**
 * Sends `data` on a fresh connection to 127.0.0.1:`port` and resolves with everything received until the server
 * closes or `waitMs` passes. `halfClose` ends the client's side after sending, as a client that is done would.
 */
export function sendRaw(port: number, data: string, { waitMs = 2000, halfClose = false } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () =>
      halfClose ? socket.end(Buffer.from(data, 'latin1')) : socket.write(Buffer.from(data, 'latin1')),
    )
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('close', () => resolve(text))
    socket.on('error', () => {})
    socket.setTimeout(waitMs, () => socket.destroy())
  })
}
