// POST /v1/cache/purge: removes (or, soft, marks stale) stored responses by URL, path prefix or surrogate key.
import { Hono } from 'hono'
import { readJson } from '../http/body.ts'
import { Problem, invalid } from '../http/problem.ts'
import type { ResponseCache } from './response-cache.ts'

export interface PurgeDeps {
  readonly cache: ResponseCache
  readonly upstreamNames: ReadonlySet<string>
  readonly maxBodyBytes: number
  readonly maxJsonDepth: number
}

const USAGE =
  'the body must be {"upstream", "path"} (one URL, path and query exactly as requested), {"upstream", "prefix"} or {"surrogateKeys": [...]}, with optional "soft": true'

export function purgeRoutes({ cache, upstreamNames, maxBodyBytes, maxJsonDepth }: PurgeDeps): Hono {
  const app = new Hono()
  app.post('/v1/cache/purge', async function purge(c) {
    const body = await readJson(c, { maxBytes: maxBodyBytes, maxDepth: maxJsonDepth })
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', USAGE)
    const { upstream, path, prefix, surrogateKeys, soft = false } = body as Record<string, unknown>
    if (typeof soft !== 'boolean') throw invalid('soft', 'soft must be true or false')
    const kinds = [path, prefix, surrogateKeys].filter((v) => v !== undefined).length
    if (kinds !== 1) throw invalid('body', USAGE)
    if (surrogateKeys !== undefined) {
      if (
        !Array.isArray(surrogateKeys) ||
        surrogateKeys.length === 0 ||
        !surrogateKeys.every((k) => typeof k === 'string' && k.length > 0 && k.length <= 256)
      ) {
        throw invalid('surrogateKeys', 'surrogateKeys must be a non-empty array of strings of 1-256 characters')
      }
      if (soft) throw invalid('soft', 'soft purge works by path or prefix; purge surrogate keys without soft')
      return c.json({ purged: await cache.purgeSurrogateKeys(surrogateKeys as string[]) })
    }
    if (typeof upstream !== 'string' || !upstreamNames.has(upstream)) {
      throw new Problem({
        kind: 'unknown-upstream',
        status: 404,
        title: 'Unknown upstream',
        detail: `no upstream is configured under the name ${JSON.stringify(upstream)}`,
        extensions: { field: 'upstream' },
      })
    }
    const target = (path ?? prefix) as unknown
    const field = path !== undefined ? 'path' : 'prefix'
    if (typeof target !== 'string' || !target.startsWith('/'))
      throw invalid(field, `${field} must be a string starting with "/" (as requested after /u/${upstream})`)
    if (soft) return c.json({ purged: await cache.markStale(upstream, target, field === 'prefix') })
    const purged =
      field === 'path' ? await cache.invalidate(upstream, target) : await cache.purgePrefix(upstream, target)
    return c.json({ purged })
  })
  return app
}
