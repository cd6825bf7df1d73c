// Table-driven tests of the pure caching rules, one row per rule, each naming its RFC section.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseCacheControl, requestDirectives } from '../../src/http-cache/policy/caching-fields.ts'
import { staleWhenUnreachable } from '../../src/http-cache/proxy/decide.ts'
import { clientConditionalMatches } from '../../src/http-cache/proxy/serve.ts'
import {
  answerItselfUnstorable,
  currentAgeMs,
  notStorable,
  responseFacts,
  retentionMs,
  reuse,
  revalidationCause,
  staleIfError,
  varyKey,
  type GetHeader,
} from '../../src/http-cache/policy/policy.ts'

const T0 = Date.UTC(2026, 0, 1, 12)
/** A stored response with these facts and a Date of T0. */
const storedAt = (f: ReturnType<typeof responseFacts>) => ({
  facts: f,
  headers: [['date', new Date(T0).toUTCString()]] as [string, string][],
  body: new Uint8Array(),
})
const httpDate = (ms: number) => new Date(ms).toUTCString()
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
/** Sunday, 06-Nov-94 08:49:37 GMT */
const rfc850 = (ms: number) => {
  const [, day, month, year, time] = httpDate(ms).split(' ')
  return `${DAYS[new Date(ms).getUTCDay()]}, ${day}-${month}-${year!.slice(2)} ${time} GMT`
}
/** Sun Nov  6 08:49:37 1994 */
const asctime = (ms: number) => {
  const [name, day, month, year, time] = httpDate(ms).split(' ')
  return `${name!.slice(0, 3)} ${month} ${day!.replace(/^0/, ' ')} ${time} ${year}`
}
const headers =
  (h: Record<string, string>): GetHeader =>
  (name) =>
    h[name] ?? null

function facts(
  h: Record<string, string>,
  { status = 200, requestTime = T0, responseTime = T0, defaultTtlMs = 0 } = {},
) {
  return responseFacts(status, headers({ date: httpDate(responseTime), ...h }), requestTime, responseTime, defaultTtlMs)
}

function storable(
  res: Record<string, string>,
  {
    status = 200,
    method = 'GET',
    req = {} as Record<string, string>,
    defaultTtlMs = 0,
    store5xx = true,
    contentLocationIsTarget = false,
    unkeyed = false,
  }: {
    status?: number
    method?: string
    req?: Record<string, string>
    defaultTtlMs?: number
    store5xx?: boolean
    contentLocationIsTarget?: boolean
    unkeyed?: boolean
  } = {},
) {
  const response = headers({ date: httpDate(T0), ...res })
  return (
    notStorable(
      { method, request: headers(req), status, response, defaultTtlMs, store5xx, contentLocationIsTarget, unkeyed },
      responseFacts(status, response, T0, T0, defaultTtlMs),
    ) ?? 'storable'
  )
}

test('storability (RFC 9111 §3)', () => {
  const rows: [string, string, ReturnType<typeof storable>][] = [
    ['§3 GET 200 with max-age is storable', storable({ 'cache-control': 'max-age=60' }), 'storable'],
    [
      '§3 only GET is stored (HEAD is answered from a stored GET)',
      storable({ 'cache-control': 'max-age=60' }, { method: 'HEAD' }),
      'method',
    ],
    [
      'RFC 9110 §9.3.3 a POST answer without Content-Location naming its URL is not stored',
      storable({ 'cache-control': 'max-age=60' }, { method: 'POST' }),
      'method',
    ],
    [
      'RFC 9110 §9.3.3 a POST 200 with max-age and Content-Location = its URL is stored (for later GETs)',
      storable({ 'cache-control': 'max-age=60' }, { method: 'POST', contentLocationIsTarget: true }),
      'storable',
    ],
    [
      'RFC 9110 §9.3.3 a POST 203 with Expires and Content-Location = its URL is stored',
      storable({ expires: httpDate(T0 + 60_000) }, { method: 'POST', status: 203, contentLocationIsTarget: true }),
      'storable',
    ],
    [
      'RFC 9110 §9.3.3 a POST answer needs explicit freshness: heuristics do not count',
      storable(
        { 'cache-control': 'public', 'last-modified': httpDate(T0 - 86_400_000) },
        { method: 'POST', contentLocationIsTarget: true },
      ),
      'method',
    ],
    [
      'RFC 9110 §9.3.3 a POST answer needs explicit freshness: the default TTL does not count',
      storable({}, { method: 'POST', contentLocationIsTarget: true, defaultTtlMs: 60_000 }),
      'method',
    ],
    [
      'RFC 9110 §8.7 a POST 201 describes what it created, not its URL: not stored',
      storable({ 'cache-control': 'max-age=60' }, { method: 'POST', status: 201, contentLocationIsTarget: true }),
      'method',
    ],
    [
      'cachecar: a POST carrying an unkeyed field is not stored (the field may have shaped it)',
      storable({ 'cache-control': 'max-age=60' }, { method: 'POST', contentLocationIsTarget: true, unkeyed: true }),
      'method',
    ],
    [
      '§3 a POST answer obeys every GET rule (private)',
      storable({ 'cache-control': 'private, max-age=60' }, { method: 'POST', contentLocationIsTarget: true }),
      'private',
    ],
    [
      '§3.5 a POST with Authorization needs public or s-maxage as a GET does',
      storable(
        { 'cache-control': 'max-age=60' },
        { method: 'POST', contentLocationIsTarget: true, req: { authorization: 'Bearer x' } },
      ),
      'authorization',
    ],
    [
      'only POST: a PUT answer with Content-Location = its URL is not stored',
      storable({ 'cache-control': 'max-age=60' }, { method: 'PUT', contentLocationIsTarget: true }),
      'method',
    ],
    ['§3 206 partial content is never stored', storable({ 'cache-control': 'max-age=60' }, { status: 206 }), 'status'],
    [
      '§3 304 is not stored itself (it freshens)',
      storable({ 'cache-control': 'max-age=60' }, { status: 304 }),
      'status',
    ],
    // §3 (changed): any final status with explicit freshness is storable.
    ...[400, 404, 499, 500, 502, 503, 504, 299, 599].map(
      (status): [string, ReturnType<typeof storable>, ReturnType<typeof storable>] => [
        `§3 (changed) ${status} with max-age is storable`,
        storable({ 'cache-control': 'max-age=60' }, { status }),
        'storable',
      ],
    ),
    ['§3 a 503 with Expires is storable', storable({ expires: httpDate(T0 + 60_000) }, { status: 503 }), 'storable'],
    [
      '§3 a 500 with public is storable (heuristic freshness from Last-Modified)',
      storable({ 'cache-control': 'public', 'last-modified': httpDate(T0 - 86_400_000) }, { status: 500 }),
      'storable',
    ],
    ['§3 a 500 without explicit freshness is not', storable({ etag: '"a"' }, { status: 500 }), 'status'],
    [
      'cachecar: the opt-in default TTL never stores an error',
      storable({}, { status: 503, defaultTtlMs: 60_000 }),
      'status',
    ],
    [
      'cachecar: with the upstream switch off, no 5xx is stored',
      storable({ 'cache-control': 'max-age=60' }, { status: 503, store5xx: false }),
      'status',
    ],
    [
      'cachecar: the switch leaves 4xx alone',
      storable({ 'cache-control': 'max-age=60' }, { status: 404, store5xx: false }),
      'storable',
    ],
    [
      '§5.2.2.3 must-understand with an unknown status is not stored',
      storable({ 'cache-control': 'max-age=60, must-understand' }, { status: 299 }),
      'status',
    ],
    [
      'RFC 9110 §15.1 501 is heuristically cacheable (Last-Modified alone)',
      storable({ 'last-modified': httpDate(T0 - 86_400_000) }, { status: 501 }),
      'storable',
    ],
    ['§1 a 1xx is not final', storable({ 'cache-control': 'max-age=60' }, { status: 103 }), 'status'],
    ['§5.2.2.5 response no-store', storable({ 'cache-control': 'max-age=60, no-store' }), 'no-store'],
    [
      '§5.2.1.5 request no-store',
      storable({ 'cache-control': 'max-age=60' }, { req: { 'cache-control': 'no-store' } }),
      'request-no-store',
    ],
    [
      '§5.2.2.3 must-understand with an understood status overrides no-store',
      storable({ 'cache-control': 'max-age=60, no-store, must-understand' }),
      'storable',
    ],
    [
      '§5.2.2.7 private is never stored by a shared cache',
      storable({ 'cache-control': 'private, max-age=60' }),
      'private',
    ],
    [
      '§5.2.2.7 (changed) qualified private is stored, without the fields it names',
      storable({ 'cache-control': 'private="x-user", max-age=60' }),
      'storable',
    ],
    [
      '§5.2.2.7 a private argument that is no list of field names counts as unqualified',
      storable({ 'cache-control': 'private="x user", max-age=60' }),
      'private',
    ],
    [
      '§4.2.1 private given twice with different arguments counts as unqualified',
      storable({ 'cache-control': 'private="x-a", private="x-b", max-age=60' }),
      'private',
    ],
    [
      'RFC 9213 a targeted private="x-user" (an SF String) is qualified too',
      storable({ 'cdn-cache-control': 'private="x-user", max-age=60' }),
      'storable',
    ],
    [
      '§3.5 Authorization without public/s-maxage/must-revalidate',
      storable({ 'cache-control': 'max-age=60' }, { req: { authorization: 'Bearer x' } }),
      'authorization',
    ],
    [
      '§3.5 Authorization with public',
      storable({ 'cache-control': 'public, max-age=60' }, { req: { authorization: 'Bearer x' } }),
      'storable',
    ],
    [
      '§3.5 Authorization with s-maxage',
      storable({ 'cache-control': 's-maxage=60' }, { req: { authorization: 'Bearer x' } }),
      'storable',
    ],
    [
      '§3.5 Authorization with must-revalidate',
      storable({ 'cache-control': 'max-age=60, must-revalidate' }, { req: { authorization: 'Bearer x' } }),
      'storable',
    ],
    [
      'cachecar: Set-Cookie is never stored',
      storable({ 'cache-control': 'public, max-age=60', 'set-cookie': 'id=1' }),
      'set-cookie',
    ],
    [
      'cachecar: a Cookie request is not stored on heuristics (cache deception)',
      storable({ 'last-modified': httpDate(T0 - 86_400_000) }, { req: { cookie: 'sid=1' } }),
      'cookie',
    ],
    [
      'cachecar: a Cookie request is not stored on the default TTL',
      storable({}, { req: { cookie: 'sid=1' }, defaultTtlMs: 60_000 }),
      'cookie',
    ],
    [
      'cachecar: a Cookie request is stored with explicit max-age',
      storable({ 'cache-control': 'max-age=60' }, { req: { cookie: 'sid=1' } }),
      'storable',
    ],
    ['§4.1 Vary: * is never stored', storable({ 'cache-control': 'max-age=60', vary: 'Accept, *' }), 'vary-star'],
    ['§3 302 without explicit freshness is not stored', storable({ etag: '"a"' }, { status: 302 }), 'status'],
    ['§3 302 with max-age is stored', storable({ 'cache-control': 'max-age=60' }, { status: 302 }), 'storable'],
    [
      '§4.2.2 200 with only Last-Modified is stored (heuristic)',
      storable({ 'last-modified': httpDate(T0 - 86_400_000) }),
      'storable',
    ],
    ['cachecar: no freshness and no validator is not worth storing', storable({}), 'not-reusable'],
    [
      '§5.2.2.4 no-cache with a validator is stored (revalidated on reuse)',
      storable({ 'cache-control': 'no-cache', etag: '"a"' }),
      'storable',
    ],
    [
      'RFC 9213 §2.2 a targeted no-store wins over Cache-Control',
      storable({ 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store' }),
      'no-store',
    ],
    ['opt-in default TTL makes a bare 200 storable', storable({}, { defaultTtlMs: 60_000 }), 'storable'],
  ]
  for (const [rule, actual, expected] of rows) assert.is(actual, expected, rule)
})

test('freshness lifetime (RFC 9111 §4.2.1, §4.2.2, §5.3; RFC 9213)', () => {
  const rows: [string, Record<string, string>, number, { status?: number; defaultTtlMs?: number }?][] = [
    ['§5.2.2.10 s-maxage beats max-age in a shared cache', { 'cache-control': 'max-age=10, s-maxage=30' }, 30_000],
    ['§5.2.2.1 max-age beats Expires', { 'cache-control': 'max-age=10', expires: httpDate(T0 + 3_600_000) }, 10_000],
    ['§5.3 Expires − Date', { expires: httpDate(T0 + 120_000) }, 120_000],
    ['§5.3 an invalid Expires means already stale', { expires: '0' }, 0],
    [
      'RFC 9110 §5.6.7 an Expires with UTC for GMT is invalid: already stale',
      { expires: httpDate(T0 + 120_000).replace('GMT', 'UTC') },
      0,
    ],
    [
      'RFC 9110 §5.6.7 an Expires without the comma is invalid: already stale',
      { expires: httpDate(T0 + 120_000).replace(',', '') },
      0,
    ],
    ['RFC 9110 §5.6.7 an Expires in the RFC 850 form counts', { expires: rfc850(T0 + 120_000) }, 120_000],
    ['RFC 9110 §5.6.7 an Expires in the asctime form counts', { expires: asctime(T0 + 120_000) }, 120_000],
    ['§5.3 Expires in the past means stale', { expires: httpDate(T0 - 1000) }, 0],
    ['§4.2.1 an invalid max-age means stale', { 'cache-control': 'max-age=soon' }, 0],
    ['§4.2.1 conflicting duplicate max-age means stale', { 'cache-control': 'max-age=10, max-age=20' }, 0],
    ['§1.2.2 delta-seconds beyond 2^31 are capped', { 'cache-control': 'max-age=99999999999' }, 2 ** 31 * 1000],
    [
      '§4.2.2 heuristic: 10 % of the time since Last-Modified',
      { 'last-modified': httpDate(T0 - 100_000_000) },
      10_000_000,
    ],
    ['§4.2.2 heuristic is capped at one day', { 'last-modified': httpDate(T0 - 100 * 86_400_000) }, 86_400_000],
    [
      '§4.2.2 no heuristic for a status that is not heuristically cacheable',
      { 'last-modified': httpDate(T0 - 100_000_000) },
      0,
      { status: 302 },
    ],
    [
      'RFC 9213 §2.2 CDN-Cache-Control wins over Cache-Control',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=600' },
      600_000,
    ],
    [
      'RFC 9213 §2.2 Cachecar-Cache-Control wins over CDN-Cache-Control',
      { 'cdn-cache-control': 'max-age=600', 'cachecar-cache-control': 'max-age=5' },
      5_000,
    ],
    [
      'RFC 9213 §2.2 a targeted field makes Expires ignored',
      { 'cdn-cache-control': 'must-revalidate', expires: httpDate(T0 + 3_600_000) },
      0,
    ],
    [
      'RFC 9213 §2.1 an invalid targeted field is skipped',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'Max-Age=600' },
      10_000,
    ],
    [
      'RFC 9213 §2.1 max-age as a String is the wrong type: the field is ignored as a whole',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age="10000"' },
      10_000,
    ],
    [
      'RFC 9213 §2.1 max-age as a Decimal is the wrong type',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=600.5' },
      10_000,
    ],
    [
      'RFC 9213 §2.1 a negative max-age is the wrong type',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=-1' },
      10_000,
    ],
    [
      'RFC 9213 §2.1 a wrong type anywhere in the field ignores all of it (public=1)',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=600, public=1' },
      10_000,
    ],
    [
      'RFC 8941 §4.2 a targeted field that does not parse is ignored (trailing comma)',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=600,' },
      10_000,
    ],
    [
      'RFC 9213 §2.2 an invalid Cachecar-Cache-Control falls to a valid CDN-Cache-Control',
      { 'cachecar-cache-control': 'max-age="5"', 'cdn-cache-control': 'max-age=600', 'cache-control': 'max-age=10' },
      600_000,
    ],
    [
      'RFC 8941 parameters on a member are ignored',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=600;foo=bar' },
      600_000,
    ],
    [
      'RFC 9213 §2.1 an unknown directive may take any type',
      { 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=600, x-vendor=(a b);q=0.5' },
      600_000,
    ],
    ['opt-in default TTL when nothing explicit', {}, 60_000, { defaultTtlMs: 60_000 }],
    ['explicit freshness beats the default TTL', { 'cache-control': 'max-age=5' }, 5_000, { defaultTtlMs: 60_000 }],
  ]
  for (const [rule, h, expected, options] of rows) assert.is(facts(h, options).freshnessMs, expected, rule)
})

test('age (RFC 9111 §4.2.3)', () => {
  const rows: [string, number, number][] = [
    ['Age header counts', currentAgeMs(facts({ age: '30' }), T0), 30_000],
    [
      'apparent age from Date',
      currentAgeMs(responseFacts(200, headers({ date: httpDate(T0 - 5000) }), T0, T0, 0), T0),
      5_000,
    ],
    ['response delay is added to Age', currentAgeMs(facts({ age: '10' }, { requestTime: T0 - 2000 }), T0), 12_000],
    ['resident time adds up', currentAgeMs(facts({ age: '10' }), T0 + 7000), 17_000],
    ['a multi-valued Age uses the first', currentAgeMs(facts({ age: '3, 9' }), T0), 3_000],
  ]
  for (const [rule, actual, expected] of rows) assert.is(actual, expected, rule)
})

test('reuse decisions (RFC 9111 §4, §5.2; RFC 5861)', () => {
  const req = (cc: string) => requestDirectives(headers(cc ? { 'cache-control': cc } : {}))
  const rows: [string, Record<string, string>, string, number, string][] = [
    ['§4.2 fresh response is reused', { 'cache-control': 'max-age=60' }, '', 30_000, 'fresh'],
    ['§4.2 stale response is revalidated', { 'cache-control': 'max-age=60' }, '', 61_000, 'revalidate'],
    ['§5.2.2.4 response no-cache always revalidates', { 'cache-control': 'max-age=60, no-cache' }, '', 0, 'revalidate'],
    ['§5.2.1.4 request no-cache revalidates', { 'cache-control': 'max-age=60' }, 'no-cache', 0, 'revalidate'],
    [
      '§5.2.1.1 request max-age older than allowed',
      { 'cache-control': 'max-age=60' },
      'max-age=10',
      20_000,
      'revalidate',
    ],
    ['§5.2.1.1 request max-age satisfied', { 'cache-control': 'max-age=60' }, 'max-age=30', 20_000, 'fresh'],
    ['§5.2.1.3 min-fresh not satisfied', { 'cache-control': 'max-age=60' }, 'min-fresh=50', 20_000, 'revalidate'],
    ['§5.2.1.3 min-fresh satisfied', { 'cache-control': 'max-age=60' }, 'min-fresh=30', 20_000, 'fresh'],
    ['§5.2.1.2 max-stale with a bound', { 'cache-control': 'max-age=60' }, 'max-stale=30', 80_000, 'stale-allowed'],
    ['§5.2.1.2 max-stale bound exceeded', { 'cache-control': 'max-age=60' }, 'max-stale=10', 80_000, 'revalidate'],
    [
      '§5.2.1.2 max-stale without a value accepts any staleness',
      { 'cache-control': 'max-age=60' },
      'max-stale',
      999_000,
      'stale-allowed',
    ],
    [
      '§5.2.2.2 must-revalidate forbids max-stale',
      { 'cache-control': 'max-age=60, must-revalidate' },
      'max-stale',
      80_000,
      'revalidate',
    ],
    [
      '§5.2.2.8 proxy-revalidate forbids stale',
      { 'cache-control': 'max-age=60, proxy-revalidate' },
      'max-stale',
      80_000,
      'revalidate',
    ],
    ['§5.2.2.10 s-maxage forbids stale', { 'cache-control': 's-maxage=60' }, 'max-stale', 80_000, 'revalidate'],
    [
      'RFC 5861 §3 stale-while-revalidate window',
      { 'cache-control': 'max-age=60, stale-while-revalidate=30' },
      '',
      80_000,
      'stale-while-revalidate',
    ],
    [
      'RFC 5861 §3 past the stale-while-revalidate window',
      { 'cache-control': 'max-age=60, stale-while-revalidate=30' },
      '',
      91_000,
      'revalidate',
    ],
    [
      'must-revalidate forbids stale-while-revalidate',
      { 'cache-control': 'max-age=60, stale-while-revalidate=30, must-revalidate' },
      '',
      80_000,
      'revalidate',
    ],
    [
      '§5.4 Pragma: no-cache without Cache-Control revalidates',
      { 'cache-control': 'max-age=60' },
      'PRAGMA',
      0,
      'revalidate',
    ],
  ]
  for (const [rule, h, cc, elapsed, expected] of rows) {
    const directives = cc === 'PRAGMA' ? requestDirectives(headers({ pragma: 'no-cache' })) : req(cc)
    assert.is(reuse(facts(h), directives, T0 + elapsed), expected, rule)
  }
})

test('why a revalidation happened, for Cache-Status: the request forced it, or the response needed it anyway', () => {
  const fresh = facts({ 'cache-control': 'max-age=60' })
  assert.is(
    revalidationCause(fresh, T0 + 30_000),
    'request',
    'fresh: only the request (no-cache, max-age) could send it',
  )
  assert.is(revalidationCause(fresh, T0 + 61_000), 'stale')
  assert.is(revalidationCause(facts({ 'cache-control': 'max-age=60, no-cache' }), T0), 'stale', 'response no-cache')
})

test("which reasons for not storing hold for the answer whoever asks, and which are this request's own", () => {
  for (const reason of [
    'status',
    'no-store',
    'private',
    'set-cookie',
    'vary-star',
    'not-reusable',
    'too-large',
    'close-delimited',
    'event-stream',
  ] as const) {
    assert.ok(answerItselfUnstorable(reason), reason)
  }
  for (const reason of ['method', 'request-no-store', 'authorization', 'cookie', undefined] as const) {
    assert.not.ok(answerItselfUnstorable(reason), String(reason))
  }
})

test('stale-if-error (RFC 5861 §4)', () => {
  const none = requestDirectives(headers({}))
  assert.is(
    staleIfError(facts({ 'cache-control': 'max-age=60, stale-if-error=60' }), none, T0 + 100_000),
    true,
    'within the response window',
  )
  assert.is(
    staleIfError(facts({ 'cache-control': 'max-age=60, stale-if-error=60' }), none, T0 + 130_000),
    false,
    'past the window',
  )
  assert.is(
    staleIfError(
      facts({ 'cache-control': 'max-age=60' }),
      requestDirectives(headers({ 'cache-control': 'stale-if-error=100' })),
      T0 + 100_000,
    ),
    true,
    'request window',
  )
  assert.is(
    staleIfError(facts({ 'cache-control': 'max-age=60, stale-if-error=60, must-revalidate' }), none, T0 + 100_000),
    false,
    'must-revalidate forbids it',
  )
  assert.is(
    staleIfError(facts({ 'cache-control': 's-maxage=60, stale-if-error=60' }), none, T0 + 100_000),
    false,
    's-maxage forbids it',
  )
  assert.is(staleIfError(facts({ 'cache-control': 'max-age=60' }), none, T0 + 100_000), false, 'no window, no stale')
})

test('retention keeps revalidatable responses past freshness', () => {
  assert.is(retentionMs(facts({ 'cache-control': 'max-age=60' }), 3_600_000), 60_000)
  assert.is(retentionMs(facts({ 'cache-control': 'max-age=60', etag: '"a"' }), 3_600_000), 3_660_000)
  assert.is(retentionMs(facts({ 'cache-control': 'max-age=60, stale-if-error=600' }), 0), 660_000)
  // Kept for the upstream-unreachable window (§4.2.4), validator or not, unless stale reuse is forbidden.
  assert.is(retentionMs(facts({ 'cache-control': 'max-age=60' }), 3_600_000, 600_000), 660_000)
  assert.is(retentionMs(facts({ 'cache-control': 'max-age=60, must-revalidate' }), 0, 600_000), 60_000)
})

test('Vary secondary key (§4.1) and client conditionals (§4.3.2)', () => {
  const f = facts({ vary: 'Accept-Encoding, Accept', etag: 'W/"v1"', 'last-modified': httpDate(T0 - 1000) })
  assert.equal(f.vary, ['accept', 'accept-encoding'])
  assert.is(
    varyKey(f.vary, headers({ accept: 'a/b', 'accept-encoding': 'gzip' })),
    varyKey(f.vary, headers({ accept: 'a/b', 'accept-encoding': 'gzip' })),
  )
  assert.is.not(
    varyKey(f.vary, headers({ accept: 'a/b' })),
    varyKey(f.vary, headers({ accept: 'a/b', 'accept-encoding': 'gzip' })),
  )
  assert.ok(clientConditionalMatches(storedAt(f), headers({ 'if-none-match': '"v1"' })), 'weak comparison')
  assert.not.ok(clientConditionalMatches(storedAt(f), headers({ 'if-none-match': '"v2"' })))
  assert.ok(clientConditionalMatches(storedAt(f), headers({ 'if-modified-since': httpDate(T0) })))
  assert.not.ok(clientConditionalMatches(storedAt(f), headers({ 'if-modified-since': httpDate(T0 - 5000) })))
  assert.not.ok(
    clientConditionalMatches(storedAt(f), headers({ 'if-none-match': '"v2"', 'if-modified-since': httpDate(T0) })),
    'If-None-Match wins over If-Modified-Since',
  )
  // RFC 9111 §4.3.2 / RFC 9110 §13.1.3: without Last-Modified, If-Modified-Since compares with the stored Date.
  const undated = facts({ 'cache-control': 'max-age=60' })
  assert.ok(clientConditionalMatches(storedAt(undated), headers({ 'if-modified-since': httpDate(T0) })), 'IMS = Date')
  assert.ok(clientConditionalMatches(storedAt(undated), headers({ 'if-modified-since': httpDate(T0 + 1000) })))
  assert.not.ok(
    clientConditionalMatches(storedAt(undated), headers({ 'if-modified-since': httpDate(T0 - 1000) })),
    'modified since an earlier IMS',
  )
})

test('qualified private and no-cache name the fields stored responses leave out (§5.2.2.7, §5.2.2.4)', () => {
  const f = facts({ 'cache-control': 'max-age=60, private="X-User, x-tier", no-cache="x-debug"' })
  assert.equal(f.withheldFields, ['x-user', 'x-tier', 'x-debug'])
  assert.is(f.noCache, false, 'qualified no-cache does not force revalidation of the rest')
  assert.is(reuse(f, requestDirectives(headers({})), T0 + 1000), 'fresh')
  assert.is(facts({ 'cache-control': 'max-age=60, no-cache' }).noCache, true, 'unqualified no-cache still does')
  assert.is(facts({ 'cache-control': 'max-age=60' }).withheldFields, undefined)
})

test('Vary normalisation (RFC 9111 §4.1): the same preference list shares a key; one a server could answer differently does not', () => {
  const key = (field: string, value: string) => varyKey([field], headers({ [field]: value }))
  const same: [string, string, string][] = [
    ['accept-encoding', 'gzip, br', 'gzip,br'],
    ['accept-encoding', 'gzip, br', 'GZIP, BR'],
    ['accept-encoding', 'br;q=0.5, gzip', 'gzip, br; q=0.50'],
    ['accept-encoding', 'gzip;q=1', 'gzip'],
    ['accept-language', 'en-US, fr;q=0.5', 'en-us,FR;Q=0.5'],
    ['accept-language', 'fr;q=0.8, en', 'en, fr;q=0.8'],
  ]
  for (const [field, a, b] of same) assert.is(key(field, a), key(field, b), `${field}: ${a} = ${b}`)
  const different: [string, string, string][] = [
    ['accept-language', 'en, fr', 'fr, en'], // equal q: a server may break the tie by order
    ['accept-encoding', 'gzip;q=0', ''], // an explicit refusal is not silence
    ['accept-encoding', 'gzip;q=0.5', 'gzip'],
    ['accept-encoding', 'gzip;level=1', 'gzip'], // not a plain preference list: keyed as sent
    ['accept', 'a/b, c/d', 'c/d, a/b'], // other fields are not normalised
  ]
  for (const [field, a, b] of different) assert.is.not(key(field, a), key(field, b), `${field}: ${a} ≠ ${b}`)
})

test('stale when the upstream is unreachable (RFC 9111 §4.2.4, as Varnish grace)', () => {
  const WINDOW = 600_000
  const at = (h: Record<string, string>, staleForMs: number, req: Record<string, string> = {}) => {
    const f = facts(h)
    const now = T0 + f.freshnessMs + staleForMs
    const answer = staleWhenUnreachable(
      { facts: f, headers: [], body: new Uint8Array() },
      requestDirectives(headers(req)),
      now,
      WINDOW,
    )
    return answer ? `${answer.status.fwd} ${answer.status.detail}` : 'not served'
  }
  const rows: [string, string, string][] = [
    [
      'a stale response within the window stands in',
      at({ 'cache-control': 'max-age=10' }, 60_000),
      'stale upstream-unreachable',
    ],
    ['at the end of the window', at({ 'cache-control': 'max-age=10' }, WINDOW), 'stale upstream-unreachable'],
    ['past the window', at({ 'cache-control': 'max-age=10' }, WINDOW + 1), 'not served'],
    ['§5.2.2.2 must-revalidate forbids it', at({ 'cache-control': 'max-age=10, must-revalidate' }, 1000), 'not served'],
    [
      '§5.2.2.8 proxy-revalidate forbids it',
      at({ 'cache-control': 'max-age=10, proxy-revalidate' }, 1000),
      'not served',
    ],
    ['§5.2.2.10 s-maxage forbids it', at({ 'cache-control': 's-maxage=10' }, 1000), 'not served'],
    ['§5.2.2.4 response no-cache forbids it', at({ 'cache-control': 'no-cache', etag: '"a"' }, 1000), 'not served'],
    [
      '§5.2.1.4 a request with no-cache insists on validation',
      at({ 'cache-control': 'max-age=10' }, 1000, { 'cache-control': 'no-cache' }),
      'not served',
    ],
  ]
  for (const [rule, actual, expected] of rows) assert.is(actual, expected, rule)
  assert.is(staleWhenUnreachable(undefined, requestDirectives(headers({})), T0, WINDOW), undefined, 'nothing stored')
})

test('Cache-Control parsing', () => {
  assert.equal(
    [...parseCacheControl('Max-Age=60, no-cache="set-cookie, x", private').entries()],
    [
      ['max-age', '60'],
      ['no-cache', 'set-cookie, x'],
      ['private', true],
    ],
  )
  assert.equal([...parseCacheControl('').entries()], [])
})

test.run()
