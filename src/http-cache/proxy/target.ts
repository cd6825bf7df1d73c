// Reads a /u/<name>/… request target: the upstream it names and the cache key, refusing dot segments that climb out.
import { isPlainTarget } from '../../http/path.ts'
import { Problem } from '../../http/problem.ts'

/** A /u/<name>/… request target: the upstream's raw name and the cache key (path and query after the name). */
export interface ProxyTarget {
  readonly name: string
  readonly key: string
  /** The route pattern metrics label it with. */
  readonly route: '/u/:name' | '/u/:name/*'
}

/** A ".." segment, as typed or percent-encoded (the URL parser resolves "%2e%2e" as ".." too). */
const DOT_DOT_SEGMENT = /\/(?:\.|%2e){2}(?:[/?]|$)/i

/**
 * Reads a request target: origin-form, or absolute-form whose scheme and authority are ignored (the request never
 * chooses the host). Undefined when it is not /u/<name> with a non-empty name, or not a valid target at all: Hono's
 * adapter then answers it as it answers every other request (400 for a backslash in the path, 404 off the routes).
 * A 400 Problem when dot segments climb out of the /u/<name>/ it names (they would land on another upstream).
 */
export function proxyTarget(url: string): ProxyTarget | Problem | undefined {
  // Every other route's requests pass here first, and most leave at once: normalising a target Node's parser accepts
  // (no tab, CR or LF) never turns a path without "/u/" into one with it.
  if (url.startsWith('/') && !url.includes('/u/')) return undefined
  // RFC 9110 §7.1: a fragment is the client's own business; it is neither sent upstream nor part of the key.
  const hash = url.indexOf('#')
  if (hash !== -1) url = url.slice(0, hash)
  // Normalised as Hono's adapter would (isPlainTarget), so a target reaches the same upstream path whichever answers.
  const plain = isPlainTarget(url)
  const path = plain ? url : normalisedPath(url)
  if (!plain && path !== undefined && climbsOut(url, path)) return climbing(url)
  if (path === undefined || !path.startsWith('/u/')) return undefined
  const name = upstreamName(path)
  if (name === '') return undefined
  // The raw path and query after /u/<name>, exactly as received.
  const rest = path.slice(3 + name.length)
  const key = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest
  return { name, key, route: rest.startsWith('/') ? '/u/:name/*' : '/u/:name' }
}

/** The <name> of a path starting with /u/<name>: everything up to the next "/", "?" or "#". */
function upstreamName(path: string): string {
  const end = path.slice(3).search(/[/?#]/)
  return end === -1 ? path.slice(3) : path.slice(3, 3 + end)
}

/** Whether a target that names /u/<name>/ resolves (through "..", typed or encoded) to a path outside it. */
function climbsOut(url: string, resolved: string): boolean {
  const raw = url.startsWith('/') ? url : url.replace(/^https?:\/\/[^/?]*/i, '')
  const query = raw.indexOf('?')
  const rawPath = query === -1 ? raw : raw.slice(0, query)
  if (!rawPath.startsWith('/u/') || !DOT_DOT_SEGMENT.test(rawPath)) return false
  const home = `/u/${upstreamName(rawPath)}`
  return !(resolved === home || resolved.startsWith(`${home}/`) || resolved.startsWith(`${home}?`))
}

function climbing(url: string): Problem {
  return new Problem({
    kind: 'invalid-target',
    status: 400,
    title: 'Bad request target',
    detail: `dot segments in ${JSON.stringify(url.split('?')[0]!.slice(0, 200))} climb out of the upstream the target names`,
  })
}

/** Path and query of an unusual target as the URL parser resolves them (dot segments, escapes); undefined if invalid. */
function normalisedPath(url: string): string | undefined {
  const absolute = url.startsWith('http://') || url.startsWith('https://')
  if (!absolute && !url.startsWith('/')) return undefined
  const query = url.indexOf('?')
  const backslash = url.indexOf('\\')
  if (backslash !== -1 && (query === -1 || backslash < query)) return undefined
  try {
    const parsed = new URL(absolute ? url : `http://target${url}`)
    return parsed.pathname + parsed.search
  } catch {
    return undefined
  }
}
