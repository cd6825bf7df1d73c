// The API's hottest reads, answered straight from Node's request event as the proxy's are (proxy/listener.ts): GET of
// one key/value entry and of one session. Through Hono they cost more than the read itself: routing, a Request, a
// Response and its Headers per request (a 1 KiB key/value GET reached 0.30 of a bare node:http server's rate through
// Hono; bench/RESULTS.md). The answers come from the functions the Hono routes call (kv/read.ts, sessions/read.ts),
// and auth, metrics and errors go the same way, so either side gives the same answer. Only plain GETs come here:
// any other method, a body, a Transfer-Encoding or a target Hono's adapter would normalise goes on to Hono.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { answerDirectly } from '../http/direct-answer.ts'
import { bearerCheck } from '../http/auth.ts'
import { isPlainTarget, targetPathSegments } from '../http/path.ts'
import type { ProblemInit } from '../http/problem.ts'
import type { Reply } from '../http/reply.ts'
import { type KvDeps, readValue } from '../kv/read.ts'
import type { RecordRequest } from '../ops/request-metrics.ts'
import { readSession } from '../sessions/read.ts'
import type { Sessions } from '../sessions/sessions.ts'

export interface HotRouteDeps {
  readonly kv: KvDeps
  readonly sessions: Sessions
  /** CACHECAR_TOKEN: /v1 routes require it. */
  readonly token?: string | undefined
  readonly record: RecordRequest
  readonly problemFor: (error: unknown, request: { method: string; path: string }) => ProblemInit
}

const KV_ROUTE = '/v1/kv/:namespace/:key'
const SESSION_ROUTE = '/v1/sessions/:id'
const AUTH_ROUTE = '/v1/*'

/** Returns a listener that answers a hot read and returns true, or returns false for every other request. */
export function hotRoutes(deps: HotRouteDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const checkBearer = deps.token === undefined ? undefined : bearerCheck(deps.token)
  return (req, res) => {
    if (req.method !== 'GET') return false
    const url = req.url ?? ''
    if (!url.startsWith('/v1/kv/') && !url.startsWith('/v1/sessions/')) return false
    const { headers } = req
    if (headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0') return false
    if (!isPlainTarget(url)) return false
    const segments = targetPathSegments(url)
    let readRoute: string
    let read: () => Reply | Promise<Reply>
    if (segments[2] === 'kv' && segments.length === 5 && segments[3] && segments[4]) {
      readRoute = KV_ROUTE
      read = () => readValue(deps.kv, segments[3]!, segments[4]!, req.headersDistinct['if-none-match']?.join(', '))
    } else if (segments[2] === 'sessions' && segments.length === 4 && segments[3]) {
      readRoute = SESSION_ROUTE
      read = () => readSession(deps.sessions, segments[3]!, touchOf(url))
    } else return false
    let route = readRoute
    const started = performance.now()
    const finished = () => deps.record('GET', route, res.statusCode, (performance.now() - started) / 1000)
    answerDirectly(
      res,
      () => {
        if (checkBearer) {
          // Counted as Hono counts a refusal by its auth middleware: under that middleware's route.
          route = AUTH_ROUTE
          // Every Authorization line, joined as Hono's side sees them (Node keeps only the first in req.headers).
          checkBearer(req.headersDistinct.authorization?.join(', '))
          route = readRoute
        }
        return read()
      },
      (error) => deps.problemFor(error, { method: 'GET', path: url.split('?')[0]! }),
      finished,
    )
    return true
  }
}

/** The first `touch` query parameter, decoded as Hono's c.req.query decodes it. */
function touchOf(url: string): string | undefined {
  const query = url.indexOf('?')
  if (query === -1) return undefined
  return new URLSearchParams(url.slice(query + 1)).get('touch') ?? undefined
}
