// Answering one request outside Hono (the proxy's listener, the hot reads): write the answer at once when it is
// ready, without a turn through the promise queue, else when it settles; turn a failure into a problem, or cut the
// connection once the status line is out; record the request when it is done.
import type { ServerResponse } from 'node:http'
import { type ProblemInit, writeProblem } from './problem.ts'
import { type Answer, SENT, writeReply } from './reply.ts'

export function answerDirectly(
  res: ServerResponse,
  produce: () => Answer | Promise<Answer>,
  problemFor: (error: unknown) => ProblemInit,
  finished: () => void,
): void {
  const write = (answer: Answer) => {
    if (answer !== SENT) writeReply(res, answer)
  }
  const failed = (error: unknown) => {
    try {
      const problem = problemFor(error)
      if (res.headersSent) res.destroy()
      else writeProblem(res, problem)
    } catch (unanswerable) {
      res.destroy(unanswerable as Error)
    }
  }
  let answer: Answer | Promise<Answer>
  try {
    answer = produce()
    if (!(answer instanceof Promise)) {
      write(answer)
      finished()
      return
    }
  } catch (error) {
    failed(error)
    finished()
    return
  }
  void answer.then(write).catch(failed).finally(finished)
}
