// A scriptable upstream on 127.0.0.1:0 that records every request it receives.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface FakeUpstream {
  readonly url: string
  readonly received: Received[]
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void
  close(): Promise<void>
}

export async function fakeUpstream(handle: FakeUpstream['handle']): Promise<FakeUpstream> {
  const received: Received[] = []
  const upstream = { received, handle } as FakeUpstream
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => {
      body += c
    })
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      upstream.handle(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
}
