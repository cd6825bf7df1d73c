// Requests Node's parser refuses (malformed start line or fields, oversized headers, header timeout) get a
// problem body too, instead of Node's bare "400 Bad Request" with no explanation.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { PROBLEM_CONTENT_TYPE, problemBody, writeProblem } from './problem.ts'

interface ParserError extends Error {
  readonly code?: string
}

function classify(code: string | undefined): { status: number; kind: string; title: string; detail: string } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      kind: 'headers-too-large',
      title: 'Request header fields too large',
      detail: 'the request line and header fields exceed CACHECAR_MAX_HEADER_BYTES',
    }
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      kind: 'request-timeout',
      title: 'Request timeout',
      detail: 'the request did not arrive within the configured timeout',
    }
  }
  return {
    status: 400,
    kind: 'malformed-request',
    title: 'Bad request',
    detail: `the request could not be parsed as HTTP/1.1 (${code ?? 'parse error'})`,
  }
}

/**
 * The 'clientError' listener, doing what Node's default does (answer unless a response already started on the
 * socket, then destroy it: the peer is not speaking HTTP we can trust) with a problem body.
 */
export function answerClientError(error: ParserError, socket: Duplex): void {
  // A connection that timed out without sending a single byte (a client's spare pooled connection) is closed without
  // an answer, as nginx does: no request began, and an unsolicited 408 would wait in the socket until the client sent
  // its next request on it and read the 408 as that request's answer (a bulk write got one, 0 ms after it was sent).
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && (socket as Duplex & { bytesRead?: number }).bytesRead === 0) {
    socket.destroy()
    return
  }
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent: boolean } })._httpMessage
  if (error.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const problem = classify(error.code)
    const body = problemBody(problem)
    socket.write(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

/** The 'checkExpectation' listener: an Expect other than 100-continue (RFC 9110 §10.1.1) is a 417 problem. */
export function answerExpectationFailed(req: IncomingMessage, res: ServerResponse): void {
  writeProblem(res, {
    kind: 'expectation-failed',
    title: 'Expectation failed',
    status: 417,
    detail: `only "Expect: 100-continue" is supported, not ${JSON.stringify(req.headers.expect ?? '')}`,
  })
}
