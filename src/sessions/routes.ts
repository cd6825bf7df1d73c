// /v1/sessions: create, read (sliding), replace, merge-patch, delete (one or every session of a subject), rotate.
import { Hono, type Context } from 'hono'
import { readJson } from '../http/body.ts'
import { parseEtagList } from '../http/conditional.ts'
import { rawPathSegments } from '../http/path.ts'
import { Problem, invalid } from '../http/problem.ts'
import { iso } from '../kv/responses.ts'
import { plausibleSessionId } from './ids.ts'
import { JSON_TYPE, NO_STORE, notFound, readSession, sessionJson } from './read.ts'
import { honoReply } from '../http/reply.ts'
import { isJsonObject, type Json } from './merge-patch.ts'
import { MAX_SUBJECT_LENGTH, SessionDataTooLarge, type Sessions, type Update } from './sessions.ts'

export interface SessionRouteDeps {
  readonly sessions: Sessions
  readonly maxBytes: number
  readonly maxJsonDepth: number
}

const tooLarge = (maxBytes: number) =>
  new Problem({
    kind: 'payload-too-large',
    status: 413,
    title: 'Payload too large',
    detail: `session data exceeds ${maxBytes} bytes as JSON`,
    extensions: { field: 'data', limit: maxBytes },
  })

function idOf(c: Context): string {
  const raw = rawPathSegments(c.req.url)[3] ?? ''
  if (!plausibleSessionId(raw)) throw notFound()
  return raw
}

function ifMatchOf(c: Context): string[] | undefined {
  const header = c.req.header('if-match')
  const list = parseEtagList(header)
  if (header !== undefined && list?.length === 0)
    throw invalid('if-match', 'If-Match must be "*" or a list of quoted entity tags')
  return list
}

/** The largest request body the session routes read: the data twice over (a merge patch may replace all of it) plus room. */
export function sessionBodyLimit(maxDataBytes: number): number {
  return maxDataBytes * 2 + 1024
}

export function sessionRoutes({ sessions, maxBytes, maxJsonDepth }: SessionRouteDeps): Hono {
  const app = new Hono()
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (error) {
      if (error instanceof SessionDataTooLarge) throw tooLarge(maxBytes)
      throw error
    }
  }
  const answer = (c: Context, result: Update | 'not-an-object') => {
    if (result === 'not-found') throw notFound()
    if (result === 'precondition-failed')
      throw new Problem({
        kind: 'precondition-failed',
        status: 412,
        title: 'Precondition failed',
        detail: 'the session changed since the ETag in If-Match',
      })
    if (result === 'not-an-object') throw invalid('data', 'the merge patch must leave data a JSON object')
    return c.body(sessionJson(result), 200, { etag: result.etag, ...NO_STORE, ...JSON_TYPE })
  }
  const body = (c: Context) => readJson(c, { maxBytes: sessionBodyLimit(maxBytes), maxDepth: maxJsonDepth })

  app.post('/', async function createSession(c) {
    const input = await body(c)
    if (!isJsonObject(input) || !isJsonObject(input.data))
      throw invalid('data', 'the body must be {"data": {…}, "subject"?: "…"} with data a JSON object')
    const subject = input.subject ?? null
    if (
      subject !== null &&
      (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH)
    ) {
      throw invalid('subject', `subject must be a string of 1-${MAX_SUBJECT_LENGTH} characters`)
    }
    const session = await guard(() => sessions.create(input.data as { [key: string]: Json }, subject))
    return c.json(
      { id: session.id, expiresAt: iso(session.expiresAt), absoluteExpiresAt: iso(session.absoluteExpiresAt) },
      201,
      {
        etag: session.etag,
        location: `/v1/sessions/${session.id}`,
        ...NO_STORE,
      },
    )
  })

  app.delete('/', async function endSubjectSessions(c) {
    const subject = c.req.query('subject')
    if (!subject) throw invalid('subject', 'DELETE /v1/sessions needs ?subject=<subject> (log out everywhere)')
    return c.json({ deleted: await sessions.destroySubject(subject) })
  })

  // Plain GETs are answered by the hot path instead (wiring/hot-routes.ts), from the same readSession.
  app.get('/:id', async function getSession(c) {
    const rawId = rawPathSegments(c.req.url)[3] ?? ''
    return honoReply(c, await readSession(sessions, rawId, c.req.query('touch')))
  })

  app.put('/:id', async function replaceSession(c) {
    const id = idOf(c)
    const ifMatch = ifMatchOf(c)
    const input = await body(c)
    if (!isJsonObject(input) || !isJsonObject(input.data))
      throw invalid('data', 'the body must be {"data": {…}} with data a JSON object')
    return answer(c, await guard(() => sessions.replace(id, input.data as { [key: string]: Json }, ifMatch)))
  })

  app.patch('/:id', async function patchSession(c) {
    const id = idOf(c)
    const ifMatch = ifMatchOf(c)
    const patch = await body(c)
    if (!isJsonObject(patch)) throw invalid('data', 'a merge patch of session data must be a JSON object (RFC 7396)')
    return answer(c, await guard(() => sessions.patch(id, patch as Json, ifMatch)))
  })

  app.delete('/:id', async function endSession(c) {
    if (!(await sessions.destroy(idOf(c)))) throw notFound()
    return c.body(null, 204)
  })

  app.post('/:id/rotate', async function rotateSession(c) {
    const session = await sessions.rotate(idOf(c))
    if (!session) throw notFound()
    return c.body(sessionJson(session), 200, {
      etag: session.etag,
      location: `/v1/sessions/${session.id}`,
      ...NO_STORE,
      ...JSON_TYPE,
    })
  })

  return app
}
