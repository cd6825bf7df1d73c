// The answer to GET /v1/sessions/{id}, framework-neutral: the Hono route (routes.ts) and the hot path
// (wiring/hot-routes.ts) both call it, so they give the same status, fields and bytes.
import { Problem, invalid } from '../http/problem.ts'
import type { Reply } from '../http/reply.ts'
import { iso } from '../kv/responses.ts'
import { plausibleSessionId } from './ids.ts'
import type { Session, Sessions } from './sessions.ts'

export /** One body for malformed and unknown IDs alike, so a probe learns nothing from the difference. */
const notFound = () => new Problem({ kind: 'not-found', status: 404, title: 'Not found', detail: 'no such session' })

export /** The session as JSON text, the stored data text spliced in as is (it was produced by JSON.stringify). */
function sessionJson(session: Session): string {
  return (
    `{"id":${JSON.stringify(session.id)},"data":${session.dataJson},"subject":${JSON.stringify(session.subject)},` +
    `"expiresAt":"${iso(session.expiresAt)}","absoluteExpiresAt":"${iso(session.absoluteExpiresAt)}"}`
  )
}

export const JSON_TYPE = { 'content-type': 'application/json' }

// Session data is personal: no cache anywhere may keep a copy.
export const NO_STORE = { 'cache-control': 'no-store' }

/**
 * Reads (and, unless `touch` is "false", slides) the session the raw path segment names: at once when the store holds
 * it in memory and the read need not slide it (Sessions.peek), else through a promise; a bad request throws at once.
 */
export function readSession(sessions: Sessions, rawId: string, touch: string | undefined): Reply | Promise<Reply> {
  if (touch !== undefined && touch !== 'true' && touch !== 'false')
    throw invalid('touch', 'touch must be true or false')
  if (!plausibleSessionId(rawId)) throw notFound()
  const slide = touch !== 'false'
  const held = sessions.peek(rawId, slide)
  if (held) return sessionReply(held)
  return sessions.get(rawId, slide).then((session) => {
    if (!session) throw notFound()
    return sessionReply(session)
  })
}

function sessionReply(session: Session): Reply {
  const body = sessionJson(session)
  const headers = { etag: session.etag, ...NO_STORE, ...JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) }
  return { status: 200, headers, body }
}
