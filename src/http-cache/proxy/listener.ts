// Serves /u/<name>/… straight from Node's request event, ahead of Hono: the proxy reads and writes the Node request
// and response itself, so Hono's Request, Context, router and Response conversion would be pure overhead per request
// (the hit path spent more there than in the cache). Everything else goes on to Hono.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { answerDirectly } from '../../http/direct-answer.ts'
import { framingProblem } from '../../http/framing.ts'
import { Problem, type ProblemInit } from '../../http/problem.ts'
import type { RecordRequest } from '../../ops/request-metrics.ts'
import { answerProxy, type ProxyDeps } from './proxy.ts'
import { proxyTarget, type ProxyTarget } from './target.ts'

export type ProblemFor = (error: unknown, request: { method: string; path: string }) => ProblemInit

/** Returns a listener that answers proxy requests and returns true, or returns false for every other request. */
export function proxyListener(
  deps: ProxyDeps,
  record: RecordRequest,
  problemFor: ProblemFor,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const target = proxyTarget(req.url ?? '')
    if (!target) return false
    const started = performance.now()
    const method = req.method ?? 'GET'
    const route = target instanceof Problem ? '/u/:name/*' : target.route
    const finished = () => record(method, route, res.statusCode, (performance.now() - started) / 1000)
    answerDirectly(
      res,
      () => {
        const refused = target instanceof Problem ? target : framingProblem(req.headers['transfer-encoding'])
        if (refused) throw refused
        return answerProxy(deps, target as ProxyTarget, req, res)
      },
      // The path alone, as Hono's side logs it: a query string may carry a secret.
      (error) => problemFor(error, { method, path: (req.url ?? '').split('?')[0]! }),
      finished,
    )
    return true
  }
}
