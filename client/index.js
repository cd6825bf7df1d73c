// The typed client an app container uses to talk to its cachecar sidecar. Plain JavaScript (types in index.d.ts):
// Node does not strip TypeScript types from files under node_modules, so a package must ship JavaScript.
import { Pool, errors } from 'undici'

/** An error answered by cachecar: `type` is the problem type URI to branch on, `status` the HTTP status. */
export class CachecarError extends Error {
  constructor(status, problem) {
    super(`${problem?.title ?? 'cachecar error'} (${status}): ${problem?.detail ?? ''}`)
    this.name = 'CachecarError'
    this.status = status
    this.type = problem?.type ?? 'about:blank'
    this.problem = problem
  }
}

/** cachecar could not be reached or did not answer in time. */
export class CachecarUnavailableError extends Error {
  constructor(cause) {
    super(`cachecar unavailable: ${cause?.message ?? cause}`, { cause })
    this.name = 'CachecarUnavailableError'
  }
}

/** A caller's mistake, found before anything is sent: the same CachecarError cachecar itself would answer (400). */
const invalidInput = (field, detail) =>
  new CachecarError(400, {
    type: 'urn:cachecar:problem:invalid-request',
    title: 'Invalid request',
    status: 400,
    detail,
    field,
  })

// The shapes cachecar accepts (src/kv/validate.ts, src/sessions/ids.ts), checked here so a bad name is a CachecarError
// the app sees, never a request that fails to send (which fail-open would silently drop as "sidecar unavailable").
const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job
const CONTROL_RE = /[\u0000-\u001f\u007f]/
const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/

function namespaceSegment(ns) {
  if (typeof ns !== 'string' || !NAMESPACE_RE.test(ns)) {
    throw invalidInput(
      'namespace',
      `namespace must be 1-64 characters of A-Z a-z 0-9 _ . - and start with a letter or digit, got ${JSON.stringify(ns)}`,
    )
  }
  return ns
}

function keySegment(key) {
  if (typeof key !== 'string' || key.length === 0) throw invalidInput('key', 'key must be a non-empty string')
  if (key.startsWith('_')) throw invalidInput('key', `keys starting with "_" are reserved, got ${JSON.stringify(key)}`)
  if (CONTROL_RE.test(key)) throw invalidInput('key', 'key must not contain control characters')
  return encodeURIComponent(key)
}

/** "/v1/kv/<ns>/<key>", each segment checked and encoded: a key such as "../x" stays one segment. */
const kvPath = (ns, key) => `/v1/kv/${namespaceSegment(ns)}/${keySegment(key)}`

/** Whether `id` has the exact shape of a session ID; anything else (a cookie such as "../kv/app") names no session. */
export const isSessionId = (id) => typeof id === 'string' && SESSION_ID_RE.test(id)

export function createClient(options = {}) {
  const url = (options.url ?? process.env.CACHECAR_URL ?? 'http://127.0.0.1:8787').replace(/\/+$/, '')
  const timeoutMs = options.timeoutMs ?? 1000
  const failOpen = options.failOpen ?? false
  const logger = options.logger ?? console
  const pool = new Pool(url, { connections: options.connections ?? 16, keepAliveTimeout: 30_000 })
  const auth = options.token ? { authorization: `Bearer ${options.token}` } : {}

  async function call(method, path, { body, headers = {}, expect = [200] } = {}) {
    let response
    try {
      response = await pool.request({
        method,
        path,
        body,
        headers: { ...auth, ...headers },
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
    } catch (error) {
      throw new CachecarUnavailableError(error)
    }
    const bytes = new Uint8Array(await response.body.arrayBuffer())
    if (expect.includes(response.statusCode)) return { status: response.statusCode, headers: response.headers, bytes }
    let problem
    try {
      problem = JSON.parse(Buffer.from(bytes).toString('utf8'))
    } catch {
      problem = undefined
    }
    throw new CachecarError(response.statusCode, problem)
  }

  /** Fail-open: a dead or slow sidecar turns KV reads into misses and drops KV writes, with a warning. */
  async function open(operation, fallback, what) {
    try {
      return await operation()
    } catch (error) {
      if (!failOpen || !(error instanceof CachecarUnavailableError || error?.cause instanceof errors.UndiciError))
        throw error
      logger.warn?.(`cachecar: ${what} skipped (fail-open): ${error.message}`)
      return fallback
    }
  }

  const json = (value) => JSON.stringify(value)
  const parse = (bytes) => JSON.parse(Buffer.from(bytes).toString('utf8'))
  const jsonHeaders = { 'content-type': 'application/json' }

  const kv = {
    get: (ns, key) =>
      open(
        async () => {
          const { status, headers, bytes } = await call('GET', kvPath(ns, key), { expect: [200, 404] })
          if (status === 404) return undefined
          return {
            value: bytes,
            contentType: String(headers['content-type'] ?? ''),
            etag: String(headers.etag ?? ''),
            text: () => Buffer.from(bytes).toString('utf8'),
            json: () => parse(bytes),
          }
        },
        undefined,
        `get ${ns}/${key}`,
      ),

    set: (ns, key, value, { ttl, tags, ifMatch, ifNoneMatch, contentType } = {}) =>
      open(
        async () => {
          const isBytes = value instanceof Uint8Array
          const body = isBytes ? value : typeof value === 'string' ? value : json(value)
          const type =
            contentType ??
            (isBytes
              ? 'application/octet-stream'
              : typeof value === 'string'
                ? 'text/plain; charset=utf-8'
                : 'application/json')
          const headers = {
            'content-type': type,
            ...(tags?.length && { 'cachecar-tags': tags.join(', ') }),
            ...(ifMatch && { 'if-match': ifMatch }),
            ...(ifNoneMatch && { 'if-none-match': '*' }),
          }
          const query = ttl === undefined ? '' : `?ttl=${ttl}`
          const { headers: h } = await call('PUT', `${kvPath(ns, key)}${query}`, { body, headers, expect: [201, 204] })
          return { etag: String(h.etag) }
        },
        undefined,
        `set ${ns}/${key}`,
      ),

    delete: (ns, key, { ifMatch } = {}) =>
      open(
        async () => {
          const { status } = await call('DELETE', kvPath(ns, key), {
            headers: ifMatch ? { 'if-match': ifMatch } : {},
            expect: [204, 404],
          })
          return status === 204
        },
        false,
        `delete ${ns}/${key}`,
      ),

    incr: (ns, key, { by = 1, ttl } = {}) =>
      open(
        async () => {
          const query = `?by=${by}${ttl === undefined ? '' : `&ttl=${ttl}`}`
          return parse((await call('POST', `${kvPath(ns, key)}/incr${query}`)).bytes).value
        },
        undefined,
        `incr ${ns}/${key}`,
      ),

    getMany: (ns, keys) =>
      open(
        async () => {
          const { bytes } = await call('POST', `/v1/kv/${namespaceSegment(ns)}/_bulk`, {
            body: json({ get: keys }),
            headers: jsonHeaders,
          })
          // cachecar answers each key once: match items by key, so repeated keys each get their value.
          const byKey = new Map(parse(bytes).items.map((item) => [item.key, item]))
          return keys.map((key) => {
            const item = byKey.get(key)
            return item?.found ? item : undefined
          })
        },
        keys.map(() => undefined),
        `getMany ${ns}`,
      ),

    setMany: (ns, items) =>
      open(
        async () => {
          const set = items.map(({ key, value, ttl, tags }) => ({
            key,
            ...(value instanceof Uint8Array
              ? { value: Buffer.from(value).toString('base64'), encoding: 'base64' }
              : { value: typeof value === 'string' ? value : json(value) }),
            ...(ttl !== undefined && { ttl }),
            ...(tags && { tags }),
          }))
          return parse(
            (await call('POST', `/v1/kv/${namespaceSegment(ns)}/_bulk`, { body: json({ set }), headers: jsonHeaders }))
              .bytes,
          ).items
        },
        undefined,
        `setMany ${ns}`,
      ),

    purgeTags: (tags) =>
      open(
        async () =>
          parse((await call('POST', '/v1/kv/_purge', { body: json({ tags }), headers: jsonHeaders })).bytes).deleted,
        0,
        'purge tags',
      ),
  }

  const withEtag = (response) => ({ ...parse(response.bytes), etag: String(response.headers.etag ?? '') })
  const sessionPath = (id) => `/v1/sessions/${encodeURIComponent(id)}`
  /** A malformed ID is no session: answered as cachecar answers an unknown one, without a request. */
  const noSuchSession = () =>
    new CachecarError(404, {
      type: 'urn:cachecar:problem:not-found',
      title: 'Not found',
      status: 404,
      detail: 'no such session',
    })

  // Sessions never fail open: treating an unreachable store as "no session" is the app's decision, not ours.
  const sessions = {
    create: async (data, { subject } = {}) =>
      withEtag(
        await call('POST', '/v1/sessions', {
          body: json({ data, ...(subject && { subject }) }),
          headers: jsonHeaders,
          expect: [201],
        }),
      ),
    get: async (id, { touch = true } = {}) => {
      if (!isSessionId(id)) return undefined
      const response = await call('GET', `${sessionPath(id)}${touch ? '' : '?touch=false'}`, { expect: [200, 404] })
      return response.status === 404 ? undefined : withEtag(response)
    },
    replace: async (id, data, { ifMatch } = {}) => {
      if (!isSessionId(id)) throw noSuchSession()
      return withEtag(
        await call('PUT', sessionPath(id), {
          body: json({ data }),
          headers: { ...jsonHeaders, ...(ifMatch && { 'if-match': ifMatch }) },
        }),
      )
    },
    patch: async (id, patch, { ifMatch } = {}) => {
      if (!isSessionId(id)) throw noSuchSession()
      return withEtag(
        await call('PATCH', sessionPath(id), {
          body: json(patch),
          headers: { 'content-type': 'application/merge-patch+json', ...(ifMatch && { 'if-match': ifMatch }) },
        }),
      )
    },
    rotate: async (id) => {
      if (!isSessionId(id)) return undefined
      const response = await call('POST', `${sessionPath(id)}/rotate`, { expect: [200, 404] })
      return response.status === 404 ? undefined : withEtag(response)
    },
    destroy: async (id) =>
      isSessionId(id) && (await call('DELETE', sessionPath(id), { expect: [204, 404] })).status === 204,
    destroySubject: async (subject) =>
      parse((await call('DELETE', `/v1/sessions?subject=${encodeURIComponent(subject)}`)).bytes).deleted,
  }

  return {
    kv,
    sessions,
    /** Purges stored proxy responses: { upstream, path } | { upstream, prefix } | { surrogateKeys }, optional soft. */
    purge: async (target) =>
      parse((await call('POST', '/v1/cache/purge', { body: json(target), headers: jsonHeaders })).bytes).purged,
    /** The base URL to point an HTTP client at instead of the upstream itself. */
    proxyUrl: (upstream) => `${url}/u/${upstream}`,
    close: () => pool.close(),
  }
}
