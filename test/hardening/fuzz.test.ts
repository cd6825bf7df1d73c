// Issue 6 fuzzing: random raw requests and random API inputs for a bounded time (FUZZ_MS, 3 s each by default;
// raise it on demand). No 5xx, every error a problem document, no unhandled rejection, the server still healthy.
// Inputs that once failed live in test/hardening/fuzz-regressions.json and are replayed first on every run.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { startRedis } from '../helpers/redis.ts'
import { sendRaw as sendRawBytes } from '../helpers/raw-upstream.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 3000)
const regressions = JSON.parse(readFileSync(join(import.meta.dirname, 'fuzz-regressions.json'), 'utf8')) as {
  raw: string[]
  api: ApiCall[]
}

let car: TestCachecar
let upstream: FakeUpstream
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason)
}
// The adapter reports errors it could not turn into a response (e.g. headers written twice) on console.error.
const consoleErrors: string[] = []
const consoleError = console.error

test.before(async () => {
  process.on('unhandledRejection', onUnhandled)
  console.error = (...args: unknown[]) => {
    consoleErrors.push(args.map(String).join(' '))
  }
  upstream = await fakeUpstream((req, res, body) => {
    res
      .writeHead(200, { 'cache-control': req.url?.includes('nocache') ? 'no-store' : 'max-age=60', etag: '"e"' })
      .end(`echo ${body.length}`)
  })
  car = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_HEADERS_TIMEOUT_MS: '1s',
    CACHECAR_REQUEST_TIMEOUT_MS: '2s',
  })
})

test.after(async () => {
  await car.shutdown()
  await upstream.close()
  process.off('unhandledRejection', onUnhandled)
  console.error = consoleError
})

/** What the server answered to raw bytes: the status and the content type, or none if it only closed. */
async function sendRaw(bytes: string): Promise<{ status: number; contentType: string } | undefined> {
  const errorsBefore = consoleErrors.length
  const answer = await exchangeRaw(bytes)
  assert.is(consoleErrors.length, errorsBefore, `the adapter logged an error: ${consoleErrors.at(-1)}`)
  return answer
}

async function exchangeRaw(bytes: string): Promise<{ status: number; contentType: string } | undefined> {
  const text = await sendRawBytes(car.port, bytes, { waitMs: 3000, halfClose: true })
  const status = /^HTTP\/1\.1 (\d{3})/.exec(text)
  return status
    ? { status: Number(status[1]), contentType: /\r\ncontent-type: ([^\r]*)/i.exec(text)?.[1] ?? '' }
    : undefined
}

function checkAnswer(answer: { status: number; contentType: string } | undefined, input: string): void {
  if (!answer) return // closed without answering (e.g. a cut body): allowed, as long as nothing breaks
  assert.ok(answer.status < 500, `${answer.status} for ${JSON.stringify(input)}`)
  if (answer.status >= 400)
    assert.is(
      answer.contentType,
      'application/problem+json',
      `${answer.status} without a problem body for ${JSON.stringify(input)}`,
    )
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)
const junk = fc.string({
  unit: fc.constantFrom(...'aZ09/\\.%?#&=;:@!$()*+,[]{}<>"\' \t\r\n\u0000\u007f\u00e9'.split('')),
  maxLength: 40,
})
const method = fc.oneof(
  fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'),
  token,
)
const target = fc
  .tuple(
    fc.constantFrom(
      '/u/api/',
      '/u/',
      '/v1/kv/app/',
      '/v1/kv/',
      '/v1/sessions/',
      '/v1/cache/purge',
      '/metrics',
      '/healthz',
      '/',
      '',
      '*',
      'http://x/',
    ),
    junk,
  )
  .map(([prefix, rest]) => prefix + rest)
const fieldName = fc.oneof(
  token,
  fc.constantFrom(
    'content-length',
    'transfer-encoding',
    'if-match',
    'if-none-match',
    'cache-control',
    'range',
    'cookie',
    'authorization',
    'connection',
    'expect',
    'cachecar-tags',
    'content-type',
    'x-forwarded-host',
    'host',
    'vary',
    'upgrade',
  ),
)
const field = fc.tuple(
  fieldName,
  fc.oneof(
    junk,
    fc.constantFrom(
      'chunked',
      '0',
      '-1',
      '99999999999999999999',
      'close',
      '100-continue',
      'bytes=0-1',
      '*',
      'no-cache',
    ),
  ),
)
const rawRequest = fc
  .record({
    method,
    target,
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/1.1 x'),
    fields: fc.array(field, { maxLength: 6 }),
    body: junk,
  })
  .map(
    (r) =>
      `${r.method} ${r.target} ${r.version}\r\nHost: x\r\n${r.fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${r.body}`,
  )

test('random raw requests: no 5xx, every error a problem, no unhandled rejection', async () => {
  for (const raw of regressions.raw) checkAnswer(await sendRaw(raw), raw)
  await fc.assert(
    fc.asyncProperty(rawRequest, async (raw) => checkAnswer(await sendRaw(raw), raw)),
    { numRuns: 1_000_000, interruptAfterTimeLimit: FUZZ_MS },
  )
  assert.equal(unhandled, [])
  assert.is((await fetch(`${car.url}/healthz`)).status, 200)
})

interface ApiCall {
  method: string
  path: string
  headers: Record<string, string>
  body?: string | undefined
}

const key = fc.oneof(
  fc.constantFrom('k', 'a/b', '%2F', '..', 'x'.repeat(300)),
  junk.filter((s) => s.length > 0).map(encodeURIComponent),
)
const jsonish = fc.oneof(
  fc.json({ maxDepth: 4 }),
  junk,
  fc.constantFrom('{}', '{"data":{}}', '{"data":[]}', '{"set":[]}', '{"get":[]}', '{"tags":[]}', 'null', '[]'),
)
const query = fc.constantFrom(
  '',
  '?ttl=1',
  '?ttl=0',
  '?ttl=-5',
  '?ttl=1e9',
  '?ttl=abc',
  '?by=2',
  '?by=1.5',
  '?by=9007199254740993',
  '?touch=false',
  '?prefix=',
  '?limit=0',
  '?cursor=zz',
  '?subject=u',
)
// biome-ignore lint/suspicious/noControlCharactersInRegex: strips the characters no header value may hold
const NOT_IN_FIELD_VALUES = /[\r\n\u0000\u007f\u00e9]/g
const apiCall: fc.Arbitrary<ApiCall> = fc.oneof(
  fc.record({
    method: fc.constantFrom('PUT', 'GET', 'DELETE', 'HEAD'),
    path: fc.tuple(key, query).map(([k, q]) => `/v1/kv/app/${k}${q}`),
    headers: fc.dictionary(
      fc.constantFrom('if-match', 'if-none-match', 'cachecar-tags', 'content-type'),
      junk.map((s) => s.replace(NOT_IN_FIELD_VALUES, '')),
      { maxKeys: 3 },
    ),
    body: fc.option(junk, { nil: undefined }),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.tuple(key, query).map(([k, q]) => `/v1/kv/app/${k}/incr${q}`),
    headers: fc.constant({}),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constantFrom('/v1/kv/app/_bulk', '/v1/kv/_purge', '/v1/sessions', '/v1/cache/purge'),
    headers: fc.constant({ 'content-type': 'application/json' }),
    body: jsonish,
  }),
  fc.record({
    method: fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE', 'POST'),
    path: fc.tuple(key, query).map(([k, q]) => `/v1/sessions/${k}${q}`),
    headers: fc.constant({ 'content-type': 'application/json' }),
    body: fc.option(jsonish, { nil: undefined }),
  }),
)

async function callApi(call: ApiCall, target = car): Promise<{ status: number; contentType: string }> {
  const hasBody = call.body !== undefined && call.method !== 'GET' && call.method !== 'HEAD'
  const errorsBefore = consoleErrors.length
  try {
    const response = await fetch(target.url + call.path, {
      method: call.method,
      headers: call.headers,
      ...(hasBody && { body: call.body as string }),
      signal: AbortSignal.timeout(5000),
    })
    await response.arrayBuffer()
    assert.is(consoleErrors.length, errorsBefore, `the adapter logged an error: ${consoleErrors.at(-1)}`)
    return { status: response.status, contentType: response.headers.get('content-type') ?? '' }
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') assert.unreachable(`no answer within 5 s for ${JSON.stringify(call)}`)
    throw error
  }
}

/** Random API calls (and the kept regressions) against `target`: every answer a non-5xx problem or a success. */
async function fuzzApi(target: TestCachecar): Promise<void> {
  // A real session to aim PATCH/PUT/rotate at, beside random IDs.
  const session = (await (
    await fetch(`${target.url}/v1/sessions`, { method: 'POST', body: '{"data":{"a":1}}' })
  ).json()) as { id: string }
  const withSession = fc.oneof(
    apiCall,
    fc.record({
      method: fc.constantFrom('GET', 'PUT', 'PATCH', 'POST'),
      path: fc.constantFrom(`/v1/sessions/${session.id}`, `/v1/sessions/${session.id}/rotate`),
      headers: fc.dictionary(
        fc.constantFrom('if-match', 'content-type'),
        fc.constantFrom('*', '"x"', 'W/"x"', 'application/json', 'application/merge-patch+json'),
        { maxKeys: 2 },
      ),
      body: fc.option(jsonish, { nil: undefined }),
    }),
  )
  for (const call of regressions.api) checkAnswer(await callApi(call, target), JSON.stringify(call))
  await fc.assert(
    fc.asyncProperty(withSession, async (call) => checkAnswer(await callApi(call, target), JSON.stringify(call))),
    { numRuns: 1_000_000, interruptAfterTimeLimit: FUZZ_MS },
  )
  assert.equal(unhandled, [])
  assert.ok(
    !target.logs.some((line) => line.includes('"level":"error"') || line.includes('"level":50')),
    target.logs.join('\n'),
  )
}

test('random API inputs: no 5xx, every error a problem, no unhandled rejection', () => fuzzApi(car))

test('random API inputs with the shared tier on (redis-server): the same', async () => {
  const redis = await startRedis()
  const shared = await startCachecar({
    CACHECAR_UPSTREAMS: `api=${upstream.url}`,
    CACHECAR_SHARED_URL: redis.url,
    CACHECAR_SHARED_COALESCE_MS: '500ms',
  })
  try {
    await fuzzApi(shared)
  } finally {
    await shared.shutdown()
    await redis.stop()
  }
})

test.run()
