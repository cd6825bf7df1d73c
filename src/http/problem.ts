// RFC 9457 problem details: one error class the routes throw, one function that renders it.
import type { ServerResponse } from 'node:http'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export interface ProblemInit {
  /** Stable kind, rendered as the `type` URI `urn:cachecar:problem:<kind>` clients branch on. */
  readonly kind: string
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly headers?: Record<string, string>
  /** Extra members (RFC 9457 §3.2), e.g. the offending field. */
  readonly extensions?: Record<string, unknown>
}

export class Problem extends Error {
  readonly init: ProblemInit
  constructor(init: ProblemInit, options?: { cause?: unknown }) {
    super(`${init.title}: ${init.detail}`, options)
    this.name = 'Problem'
    this.init = init
  }
  get status(): number {
    return this.init.status
  }
}

export function problemType(kind: string): string {
  return `urn:cachecar:problem:${kind}`
}

/** The RFC 9457 JSON document for `problem`, for answers written without a Response (raw sockets, Node's own). */
export function problemBody(problem: Omit<ProblemInit, 'headers'>): string {
  return JSON.stringify({
    type: problemType(problem.kind),
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    ...problem.extensions,
  })
}

/** Writes `problem` to a Node response, for answers given outside Hono. */
export function writeProblem(res: ServerResponse, problem: ProblemInit): void {
  const body = problemBody(problem)
  res
    .writeHead(problem.status, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      ...problem.headers,
    })
    .end(body)
}

export function problemResponse(problem: ProblemInit): Response {
  return new Response(problemBody(problem), {
    status: problem.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...problem.headers },
  })
}

/** Shorthand for the common 400 naming the offending field. */
export function invalid(field: string, detail: string): Problem {
  return new Problem({ kind: 'invalid-request', status: 400, title: 'Invalid request', detail, extensions: { field } })
}
