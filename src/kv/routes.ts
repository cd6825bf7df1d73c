// Single-key routes of the key/value API: GET/HEAD, PUT, DELETE and atomic increment.
import { Hono, type Context } from 'hono'
import { readBody } from '../http/body.ts'
import { parseEtagList } from '../http/conditional.ts'
import { rawPathSegments } from '../http/path.ts'
import { Problem } from '../http/problem.ts'
import { honoReply } from '../http/reply.ts'
import { address, type KvDeps, readValue } from './read.ts'
import type { Precondition } from '../store/types.ts'
import { iso } from './responses.ts'
import { contentTypeOf, integerOf, tagsFromHeader, ttlOf, type KvLimits } from './validate.ts'

/** Namespace and key of /v1/kv/{namespace}/{key}[/...], validated. */
export function addressOf(c: Context, limits: KvLimits): { namespace: string; key: string } {
  const segments = rawPathSegments(c.req.url)
  return address(segments[3] ?? '', segments[4] ?? '', limits)
}

export function preconditionFrom(c: Context): Precondition | undefined {
  const ifMatch = parseEtagList(c.req.header('if-match'))
  const ifNoneMatch = c.req.header('if-none-match')
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new Problem({
      kind: 'invalid-request',
      status: 400,
      title: 'Invalid request',
      detail: 'writes accept only If-None-Match: * (create only)',
      extensions: { field: 'if-none-match' },
    })
  }
  if (!ifMatch && ifNoneMatch === undefined) return undefined
  return { ...(ifMatch && { ifMatch }), ...(ifNoneMatch !== undefined && { ifNoneMatchAny: true }) }
}

export const preconditionFailed = (detail: string) =>
  new Problem({
    kind: 'precondition-failed',
    status: 412,
    title: 'Precondition failed',
    detail,
  })

export function keyRoutes(deps: KvDeps): Hono {
  const { store, limits } = deps
  const app = new Hono()

  // GET and HEAD; plain GETs are answered by the hot path instead (wiring/hot-routes.ts), from the same readValue.
  app.get('/:namespace/:key', async function getValue(c) {
    const segments = rawPathSegments(c.req.url)
    return honoReply(c, await readValue(deps, segments[3] ?? '', segments[4] ?? '', c.req.header('if-none-match')))
  })

  app.put('/:namespace/:key', async function putValue(c) {
    const { namespace, key } = addressOf(c, limits)
    const ttlMs = ttlOf(c.req.query('ttl'), limits)
    const tags = tagsFromHeader(c.req.header('cachecar-tags'))
    const contentType = contentTypeOf(c.req.header('content-type'))
    const precondition = preconditionFrom(c)
    const value = await readBody(c, limits.maxValueBytes)
    const result = await store.set({ namespace, key, value, contentType, ttlMs, tags }, precondition)
    if (result.status === 'precondition-failed')
      throw preconditionFailed(`the entry ${namespace}/${key} does not match the request's preconditions`)
    return c.body(null, result.status === 'created' ? 201 : 204, {
      ...(result.status === 'created' && { 'content-length': '0' }),
      etag: result.etag,
      'cachecar-expires-at': iso(result.expiresAt),
    })
  })

  app.delete('/:namespace/:key', async function deleteValue(c) {
    const { namespace, key } = addressOf(c, limits)
    const result = await store.delete(namespace, key, preconditionFrom(c))
    if (result === 'precondition-failed')
      throw preconditionFailed(`the entry ${namespace}/${key} does not match If-Match`)
    if (result === 'not-found') {
      throw new Problem({
        kind: 'not-found',
        status: 404,
        title: 'Not found',
        detail: `no live entry for ${namespace}/${key}`,
      })
    }
    return c.body(null, 204)
  })

  app.post('/:namespace/:key/incr', async function increment(c) {
    const { namespace, key } = addressOf(c, limits)
    const by = integerOf(c.req.query('by'), 'by', 1, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
    const ttlMs = ttlOf(c.req.query('ttl'), limits)
    const result = await store.incr(namespace, key, by, ttlMs)
    if (result.status !== 'ok') {
      throw result.status === 'not-a-counter'
        ? new Problem({
            kind: 'not-a-counter',
            status: 409,
            title: 'Not a counter',
            detail: `the value of ${namespace}/${key} is not a decimal integer`,
          })
        : new Problem({
            kind: 'counter-overflow',
            status: 409,
            title: 'Counter overflow',
            detail: `the counter ${namespace}/${key} would leave the safe integer range (±2^53-1)`,
          })
    }
    return c.json({ value: result.value, expiresAt: iso(result.expiresAt) }, 200, { etag: result.etag })
  })

  return app
}
