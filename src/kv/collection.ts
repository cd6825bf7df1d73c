// Namespace-wide routes of the key/value API: list, purge by prefix, bulk get/set, purge by tag.
import { Hono } from 'hono'
import { readJson, tooLarge } from '../http/body.ts'
import { rawPathSegments } from '../http/path.ts'
import { Problem, invalid } from '../http/problem.ts'
import { pulledStream } from '../http/slices.ts'
import { readMany, type SetInput } from '../store/types.ts'
import { planBulkAnswer } from './bulk-answer.ts'
import { infoJson, iso } from './responses.ts'
import type { KvDeps } from './read.ts'
import {
  contentTypeOf,
  decodeSegment,
  integerOf,
  keyOf,
  namespaceOf,
  tagsOf,
  ttlOf,
  type KvLimits,
} from './validate.ts'

const MAX_LIST_LIMIT = 1000

function namespaceFrom(url: string): string {
  return namespaceOf(decodeSegment(rawPathSegments(url)[3] ?? '', 'namespace'))
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function cursorOf(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined
  const key = Buffer.from(raw, 'base64url').toString('utf8')
  if (key.length === 0 || Buffer.from(key).toString('base64url') !== raw)
    throw invalid('cursor', 'cursor is not one this API returned')
  return key
}

export function collectionRoutes({ store, limits }: KvDeps): Hono {
  const app = new Hono()

  app.post('/_purge', async function purgeTags(c) {
    const body = await readJson(c, { maxBytes: limits.maxBulkBytes, maxDepth: limits.maxJsonDepth })
    if (!isObject(body) || !Array.isArray(body.tags) || body.tags.length === 0) {
      throw invalid('tags', 'the body must be {"tags": ["tag", ...]} with at least one tag')
    }
    return c.json({ deleted: await store.deleteTags(tagsOf(body.tags)) })
  })

  app.get('/:namespace', async function listKeys(c) {
    const namespace = namespaceFrom(c.req.url)
    const limit = integerOf(c.req.query('limit'), 'limit', 100, 1, MAX_LIST_LIMIT)
    const after = cursorOf(c.req.query('cursor'))
    const page = await store.list(namespace, {
      prefix: c.req.query('prefix') ?? '',
      limit: limit + 1,
      ...(after !== undefined && { after }),
    })
    const items = page.slice(0, limit)
    const last = items.at(-1)
    const cursor = page.length > limit && last ? Buffer.from(last.key).toString('base64url') : null
    return c.json({ items: items.map(infoJson), cursor })
  })

  app.delete('/:namespace', async function purgePrefix(c) {
    const namespace = namespaceFrom(c.req.url)
    const prefix = c.req.query('prefix')
    if (prefix === undefined) {
      throw invalid('prefix', 'purging requires ?prefix= (an empty prefix purges the whole namespace)')
    }
    return c.json({ deleted: await store.deletePrefix(namespace, prefix) })
  })

  app.post('/:namespace/_bulk', async function bulk(c) {
    const namespace = namespaceFrom(c.req.url)
    const body = await readJson(c, { maxBytes: limits.maxBulkBytes, maxDepth: limits.maxJsonDepth })
    if (!isObject(body) || 'get' in body === 'set' in body) {
      throw invalid('body', 'the body must be {"get": [keys]} or {"set": [items]}, exactly one of them')
    }
    const items = body.get ?? body.set
    const field = 'get' in body ? 'get' : 'set'
    if (!Array.isArray(items) || items.length === 0 || items.length > limits.maxBulkItems) {
      throw invalid(field, `${field} must be an array of 1 to ${limits.maxBulkItems} items`)
    }
    if (field === 'get') {
      // Each key is answered once, however often it is asked for: 25 copies of one 8 MB value made a 267 MB answer.
      const keys = [...new Set(items.map((key, i) => keyOf(typeof key === 'string' ? key : '', limits, `get[${i}]`)))]
      const answer = await planBulkAnswer(keys, await readMany(store, namespace, keys), limits.maxBulkBytes)
      if (!answer) {
        throw new Problem({
          kind: 'payload-too-large',
          status: 413,
          title: 'Answer too large',
          detail:
            `the values asked for add up to more than ${limits.maxBulkBytes} bytes (CACHECAR_MAX_BULK_BYTES); ` +
            'ask for fewer keys at a time',
          extensions: { field: 'get', limit: limits.maxBulkBytes },
        })
      }
      return c.body(pulledStream(answer.pieces()), 200, {
        'content-type': 'application/json',
        'content-length': String(answer.bytes),
      })
    }
    const inputs = items.map((item, i) => bulkSetItem(namespace, item, `set[${i}]`, limits))
    const written = await store.setMany(inputs)
    return c.json({
      items: written.map((w, i) => ({ key: inputs[i]!.key, etag: w.etag, expiresAt: iso(w.expiresAt) })),
    })
  })

  return app
}

function bulkSetItem(namespace: string, item: unknown, field: string, limits: KvLimits): SetInput {
  if (!isObject(item))
    throw invalid(field, `${field} must be an object {key, value, encoding?, contentType?, ttl?, tags?}`)
  const key = keyOf(typeof item.key === 'string' ? item.key : '', limits, `${field}.key`)
  if (typeof item.value !== 'string') throw invalid(`${field}.value`, `${field}.value must be a string`)
  const encoding = item.encoding ?? 'utf8'
  if (encoding !== 'utf8' && encoding !== 'base64')
    throw invalid(`${field}.encoding`, `${field}.encoding must be "utf8" or "base64"`)
  if (encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(item.value)) {
    throw invalid(`${field}.value`, `${field}.value is not valid base64`)
  }
  const value = Buffer.from(item.value, encoding)
  if (value.byteLength > limits.maxValueBytes) throw tooLarge(limits.maxValueBytes, `${field}.value`)
  if (item.tags !== undefined && !Array.isArray(item.tags))
    throw invalid(`${field}.tags`, `${field}.tags must be an array of strings`)
  if (item.contentType !== undefined && typeof item.contentType !== 'string') {
    throw invalid(`${field}.contentType`, `${field}.contentType must be a string`)
  }
  if (item.ttl !== undefined && typeof item.ttl !== 'number')
    throw invalid(`${field}.ttl`, `${field}.ttl must be a number of seconds`)
  return {
    namespace,
    key,
    value,
    contentType: contentTypeOf(item.contentType, `${field}.contentType`),
    ttlMs: ttlOf(item.ttl, limits, `${field}.ttl`),
    tags: tagsOf(item.tags ?? [], `${field}.tags`),
  }
}
