// Serves /u/<name>/… straight from Node's request event, ahead of Hono: the proxy reads and writes the Node request
// and response itself, so Hono's Request, Context, router and Response conversion would be pure overhead per request
// (the hit path spent more there than in the cache). Everything else goes on to Hono.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { framingProblem } from '../../http/framing.ts'
import { Problem, writeProblem, type ProblemInit } from '../../http/problem.ts'
import type { RecordRequest } from '../../ops/request-metrics.ts'
import { writeReply } from '../../http/reply.ts'
import { SENT, type Answer } from './answer.ts'
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
    // The path alone, as Hono's side logs it: a query string may carry a secret.
    const failed = (error: unknown) => {
      try {
        answerProblem(res, problemFor(error, { method, path: (req.url ?? '').split('?')[0]! }))
      } catch (unanswerable) {
        res.destroy(unanswerable as Error)
      }
    }
    let answer: Answer | Promise<Answer>
    try {
      const refused = target instanceof Problem ? target : framingProblem(req.headers['transfer-encoding'])
      if (refused) throw refused
      answer = answerProxy(deps, target as ProxyTarget, req, res)
      // A hit answered from memory is written at once, without a turn through the promise queue.
      if (!(answer instanceof Promise)) {
        if (answer !== SENT) writeReply(res, answer)
        finished()
        return true
      }
    } catch (error) {
      failed(error)
      finished()
      return true
    }
    void answer
      .then((answered) => {
        if (answered !== SENT) writeReply(res, answered)
      })
      .catch(failed)
      .finally(finished)
    return true
  }
}

/** A problem answer; once the status line is out (a streamed answer failed), the connection is cut instead. */
function answerProblem(res: ServerResponse, problem: ProblemInit): void {
  if (res.headersSent) res.destroy()
  else writeProblem(res, problem)
}
