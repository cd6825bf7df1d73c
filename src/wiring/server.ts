// Wires config → store → sweeper → app → HTTP server, and drains them in order on shutdown.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Server as NetServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { getRequestListener, RequestError } from '@hono/node-server'
import { apiParts, createApp } from './app.ts'
import { hotRoutes } from './hot-routes.ts'
import { answerClientError, answerExpectationFailed } from '../http/client-error.ts'
import { BodyBudget, withinBodyBudget } from '../http/body-budget.ts'
import { cutStalledSends, oneAnswerAtATime } from '../http/connection-limits.ts'
import { errorProblem } from './error-problems.ts'
import { problemResponse, writeProblem, type ProblemInit } from '../http/problem.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../ops/logger.ts'
import { sampleEventLoopDelay } from '../ops/event-loop-delay.ts'
import { createMetrics } from '../ops/metrics.ts'
import { requestRecorder } from '../ops/request-metrics.ts'
import { createStoreStack, type StoreStackOptions } from './store-stack.ts'
import { sessionBodyLimit } from '../sessions/routes.ts'
import { Sweeper } from '../store/sweeper.ts'
import type { Store } from '../store/types.ts'

export interface Running {
  readonly url: string
  readonly port: number
  /** The listening server (tests watch its connections). */
  readonly server: Server
  readonly store: Store
  readonly sweeper: Sweeper
  /** Stops accepting, lets in-flight requests finish within the grace period, closes the store. */
  readonly shutdown: () => Promise<{ forced: boolean }>
}

export interface StartOptions extends StoreStackOptions {
  /** Answer hot reads outside Hono (hot-routes.ts); on by default. Tests turn it off to compare both sides. */
  readonly hotRoutes?: boolean
}

export async function start(config: Config, logger: Logger, options: StartOptions = {}): Promise<Running> {
  let store: Store | undefined
  const metrics = createMetrics(() => store, { shared: config.sharedUrl !== undefined })
  const stack = await createStoreStack(config, metrics, logger, options)
  store = stack.store
  if (stack.ready && !(await stack.ready())) {
    logger.warn(
      { event: 'shared_tier_down', url: stack.shared?.().url },
      'shared tier not reachable at start: starting on the local store; reconnecting in the background',
    )
  }
  const sweeper = new Sweeper({
    store,
    intervalMs: config.sweepIntervalMs,
    onSweep: ({ removed, durationMs }) => {
      metrics.sweptRows.inc(removed)
      metrics.sweepDuration.observe(durationMs / 1000)
      if (removed > 0) logger.debug({ event: 'sweep', removed, ms: Math.round(durationMs) })
    },
    onError: (error) => logger.warn({ event: 'sweep_failed', err: error }, 'sweep failed; retrying next interval'),
  })

  const now = options.now ?? Date.now
  // Loaded only with upstreams configured (proxy-stack.ts says why).
  const proxy =
    config.upstreams.length === 0
      ? undefined
      : (await import('./proxy-stack.ts')).createProxyStack(config, store, metrics, logger, now)
  let accepting = true
  const parts = apiParts({ config, store, metrics, now })
  const app = createApp({
    parts,
    config,
    store,
    metrics,
    logger,
    now,
    accepting: () => accepting,
    ...(proxy && { proxy: proxy.deps }),
    ...(stack.shared && { shared: stack.shared }),
  })
  const record = requestRecorder(metrics, logger)
  const problemFor = (error: unknown, request: { method: string; path: string }) =>
    errorProblem(error, request, metrics, logger)
  // Answered straight from Node's request event, ahead of Hono, in this order; every other request goes to Hono.
  const ahead = [
    ...(options.hotRoutes === false ? [] : [hotRoutes({ ...parts, token: config.token, record, problemFor })]),
    ...(proxy ? [proxy.listener(record, problemFor)] : []),
  ]
  const bodyBudget = new BodyBudget(config.bodyMemoryBytes)
  metrics.watchBudget('body', () => bodyBudget.taken)
  const server = await listen(app.fetch, ahead, config, bodyBudget, logger)
  watchDroppedConnections(server, metrics.connectionsDropped, logger)
  const connections = trackConnections(server)
  const stopCutting = cutStalledSends(connections, config.sendTimeoutMs)
  sweeper.start()
  const stopSampling = sampleEventLoopDelay(metrics.eventLoopDelay)
  const port = (server.address() as AddressInfo).port
  const host = urlHost(config.host)
  logger.info(
    {
      event: 'listening',
      host: config.host,
      port,
      dbPath: config.dbPath,
      maxBytes: config.maxBytes,
      auth: config.token !== undefined,
      upstreams: config.upstreams.map((u) => `${u.name}=${u.origin}${u.basePath}`),
      ...(stack.shared && { shared: stack.shared().url }),
    },
    'cachecar is ready',
  )

  const openStore = store
  let shuttingDown: Promise<{ forced: boolean }> | undefined
  async function shutdown(): Promise<{ forced: boolean }> {
    accepting = false
    const forced = await drain(server, config.shutdownGraceMs, connections)
    stopCutting()
    await sweeper.stop()
    stopSampling()
    await proxy?.close()
    await openStore.close()
    logger.info(
      { event: 'stopped', forced },
      forced ? 'grace period over: open connections were cut' : 'drained cleanly',
    )
    return { forced }
  }
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    store,
    sweeper,
    shutdown: () => (shuttingDown ??= shutdown()),
  }
}

/** A host as it goes before ":port": an IPv6 address in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the port is in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'no such address on this host',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve',
}

/** The server could not bind its address: said in one line (main.ts prints it without a stack), exit 1. */
export class ListenError extends Error {
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const reason = LISTEN_FAILURES[cause.code ?? ''] ?? cause.message
    super(`cannot listen on ${urlHost(host)}:${port}: ${reason} (${cause.code ?? 'error'})`, {
      cause,
    })
  }
}

type FetchHandler = Parameters<typeof getRequestListener>[0]

const HTTP_09_REFUSED: ProblemInit = {
  kind: 'malformed-request',
  status: 400,
  title: 'Bad request',
  detail: 'HTTP/0.9 request lines are not accepted; send HTTP/1.1',
  headers: { connection: 'close' },
}

function listen(
  fetch: FetchHandler,
  ahead: readonly ((req: IncomingMessage, res: ServerResponse) => boolean)[],
  config: Config,
  bodyBudget: BodyBudget,
  logger: Logger,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    // serve() does not pass an errorHandler through, and without one a request the adapter cannot turn into a
    // Request (a backslash in the path, a bad Host) gets a bare 400 with no body.
    const hono = getRequestListener(fetch, {
      hostname: config.host,
      errorHandler: (error) => requestError(error, logger),
    })
    // The proxy streams request bodies to the upstream; the API's routes read theirs whole, within one budget.
    const largestBody = Math.max(config.maxValueBytes, config.maxBulkBytes, sessionBodyLimit(config.sessionMaxBytes))
    const api = withinBodyBudget((req, res) => void hono(req, res), bodyBudget, largestBody)
    const routed = (req: IncomingMessage, res: ServerResponse) => {
      for (const answer of ahead) if (answer(req, res)) return
      api(req, res)
    }
    const listener = oneAnswerAtATime((req: IncomingMessage, res: ServerResponse) => {
      // An HTTP/0.9 request line (no version, hence no fields at all) is refused: nothing else in the path expects one.
      if (req.httpVersionMajor === 0) writeProblem(res, HTTP_09_REFUSED)
      else void routed(req, res)
    })
    const server = createServer(
      {
        maxHeaderSize: config.maxHeaderBytes,
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        keepAliveTimeout: config.keepAliveTimeoutMs,
        // Node enforces the timeouts above only when it checks, every 30 s by default: check often enough.
        connectionsCheckingInterval: Math.min(1000, Math.max(50, config.headersTimeoutMs / 4)),
      },
      listener,
    )
    // Everything cachecar holds for a client is per connection (one answer at a time, a slice of it queued, a body
    // within the shared budget): capping connections caps the sum.
    server.maxConnections = config.maxConnections
    server.on('clientError', answerClientError)
    server.on('checkExpectation', answerExpectationFailed)
    server.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError(config.host, config.port, error)))
    // Bind the configured host only: listen(port) alone would bind every interface.
    server.listen(config.port, config.host, () => resolve(server))
  })
}

/** Counts connections Node closed at CACHECAR_MAX_CONNECTIONS, with a warning at most once a minute. */
function watchDroppedConnections(server: Server, dropped: { inc(): void }, logger: Logger): void {
  let warnedAt = -Infinity
  server.on('drop', () => {
    dropped.inc()
    if (performance.now() - warnedAt < 60_000) return
    warnedAt = performance.now()
    logger.warn(
      { event: 'connections_dropped', maxConnections: server.maxConnections },
      'connection limit reached: new connections are closed',
    )
  })
}

/** The adapter's errors: a request it could not build is the client's fault (400); anything else is ours. */
function requestError(error: unknown, logger: Logger): Response {
  if (error instanceof RequestError) {
    return problemResponse({
      kind: 'malformed-request',
      status: 400,
      title: 'Bad request',
      detail: `the request target or Host is not acceptable: ${error.message}`,
    })
  }
  logger.error({ event: 'adapter_error', err: error }, 'the HTTP adapter failed to handle a request')
  return problemResponse({
    kind: 'internal',
    status: 500,
    title: 'Internal error',
    detail: 'cachecar failed to handle this request; see its logs',
  })
}

/**
 * Graceful drain for keep-alive clients under load: stop accepting; every response from now on carries
 * `Connection: close`, so each busy socket closes cleanly after its next answer; sockets that stay idle for
 * IDLE_LINGER_MS belong to quiet clients and are closed then. Closing idle sockets at once (what http.Server#close
 * does) resets clients that are sending their next request on them (measured: every client of a steady load).
 */
const IDLE_LINGER_MS = 250

function drain(server: Server, graceMs: number, connections: ReadonlySet<Socket>): Promise<boolean> {
  return new Promise((resolve) => {
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) =>
      res.setHeader('connection', 'close'),
    )
    for (const socket of connections) {
      const res = responseOn(socket)
      if (res && !res.headersSent) res.setHeader('connection', 'close')
    }
    let sweepIdle: NodeJS.Timeout | undefined
    const linger = setTimeout(
      () => {
        server.closeIdleConnections()
        sweepIdle = setInterval(() => server.closeIdleConnections(), 25)
      },
      Math.min(IDLE_LINGER_MS, graceMs / 2),
    )
    const deadline = setTimeout(() => {
      clearTimeout(linger)
      clearInterval(sweepIdle)
      server.closeAllConnections()
      resolve(true)
    }, graceMs)
    // net.Server#close: stop accepting without http.Server#close's immediate closing of idle sockets.
    NetServer.prototype.close.call(server, () => {
      clearTimeout(linger)
      clearInterval(sweepIdle)
      clearTimeout(deadline)
      resolve(false)
    })
  })
}

/**
 * The open connections, so a drain can ask the responses on them to close their connection and stalled sends can be
 * cut. Tracked per connection: a Set entry and a 'close' listener per request cost a hit 4 % of its throughput.
 */
function trackConnections(server: Server): Set<Socket> {
  const connections = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    connections.add(socket)
    socket.once('close', () => connections.delete(socket))
  })
  return connections
}

/** The response a connection is writing now, if any: Node's own link from a socket to its current response. */
function responseOn(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined
}
