// The hot path (src/wiring/hot-routes.ts) answers plain GETs of one key/value entry and of one session outside Hono.
// It must give exactly the answer Hono's routes give (same status, fields, bytes and metrics), and leave every other
// request to Hono.
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../../src/config.ts'
import { SESSIONS } from '../../src/store/keyspace.ts'
import { apiParts } from '../../src/wiring/app.ts'
import { hotRoutes } from '../../src/wiring/hot-routes.ts'
import { createMetrics } from '../../src/ops/metrics.ts'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { ManualClock } from '../helpers/clock.ts'

const TOKEN = 'a-token-long-enough-for-the-config-check'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** Sends a request exactly as written (several lines of one field allowed) and reads the whole answer. */
function send(port: number, method: string, path: string, headers: [string, string][] = []): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: [['host', `127.0.0.1:${port}`], ...headers].flat(),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** Fields that say nothing about the answer itself. */
const TRANSPORT = new Set(['date', 'connection', 'keep-alive'])
const comparable = (answer: Answer) => ({
  status: answer.status,
  headers: Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !TRANSPORT.has(name))),
  body: answer.body.toString('latin1'),
})

/** The request and lookup counts of the reads compared (the writes that set the pair up differ between the two). */
const readLines = (text: string) =>
  text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('cachecar_kv_lookups_total') || /^cachecar_http_requests_total\{method="(GET|HEAD)"/.test(line),
    )

/** Two cachecars on one clock, with and without the hot path, holding the same entries and the same session. */
async function pair(
  env: Record<string, string>,
): Promise<{ hot: TestCachecar; hono: TestCachecar; session: string; close: () => Promise<void> }> {
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000)
  const hot = await startCachecar(env, clock)
  const hono = await startCachecar(env, clock, { hotRoutes: false })
  const auth = env.CACHECAR_TOKEN ? { authorization: `Bearer ${env.CACHECAR_TOKEN}` } : {}
  for (const car of [hot, hono]) {
    await fetch(`${car.url}/v1/kv/app/small?ttl=600`, {
      method: 'PUT',
      body: 'small value',
      headers: { ...auth, 'content-type': 'text/plain' },
    })
    await fetch(`${car.url}/v1/kv/app/large?ttl=600`, { method: 'PUT', body: 'L'.repeat(300 * 1024), headers: auth })
    await fetch(`${car.url}/v1/kv/app/k%2Fwith%20escapes?ttl=600`, { method: 'PUT', body: 'escaped', headers: auth })
  }
  clock.advance(7_000)
  // The same session in both stores: written into the second as the first stored it.
  const created = await fetch(`${hot.url}/v1/sessions`, {
    method: 'POST',
    body: JSON.stringify({ data: { user: 'ada' } }),
    headers: { ...auth, 'content-type': 'application/json' },
  })
  const session = ((await created.json()) as { id: string }).id
  const entry = (await hot.store.get(SESSIONS, session))!
  await hono.store.set({
    namespace: SESSIONS,
    key: session,
    value: entry.value,
    contentType: entry.contentType,
    ttlMs: entry.expiresAt - clock.now(),
    tags: entry.tags,
  })
  return { hot, hono, session, close: async () => void (await Promise.all([hot.shutdown(), hono.shutdown()])) }
}

async function assertSameAnswers(hot: TestCachecar, hono: TestCachecar, cases: [string, string, [string, string][]][]) {
  for (const [method, path, headers] of cases) {
    const [a, b] = [await send(hot.port, method, path, headers), await send(hono.port, method, path, headers)]
    assert.equal(comparable(a), comparable(b), `${method} ${path} ${JSON.stringify(headers)}`)
  }
  const metrics = async (car: TestCachecar) => readLines(await (await fetch(`${car.url}/metrics`)).text())
  assert.equal(await metrics(hot), await metrics(hono), 'the same requests counted the same way')
}

test('key/value and session GETs: the hot path answers exactly as the Hono routes do', async () => {
  const { hot, hono, session, close } = await pair({})
  try {
    const etag = (await hot.store.get('app', 'small'))!.etag
    await assertSameAnswers(hot, hono, [
      ['GET', '/v1/kv/app/small', []],
      ['GET', '/v1/kv/app/small?ignored=1', []],
      ['GET', '/v1/kv/app/large', []],
      ['GET', '/v1/kv/app/k%2Fwith%20escapes', []],
      ['GET', '/v1/kv/app/missing', []],
      ['GET', '/v1/kv/app/small', [['if-none-match', etag]]],
      ['GET', '/v1/kv/app/small', [['if-none-match', `"other", W/${etag}`]]],
      ['GET', '/v1/kv/app/small', [['if-none-match', '"other"']]],
      [
        'GET',
        '/v1/kv/app/small',
        [
          ['if-none-match', '"other"'],
          ['if-none-match', etag],
        ],
      ],
      ['GET', '/v1/kv/app/%ZZ', []],
      ['GET', `/v1/kv/app/${'k'.repeat(2000)}`, []],
      ['GET', '/v1/kv/%23sessions/x', []],
      ['GET', '/v1/kv/app/small/', []],
      ['GET', '/v1/kv//small', []],
      ['GET', '/v1/kv/app/./small', []],
      ['HEAD', '/v1/kv/app/small', []],
      ['GET', `/v1/sessions/${session}`, []],
      ['GET', `/v1/sessions/${session}?touch=false`, []],
      ['GET', `/v1/sessions/${session}?touch=maybe`, []],
      ['GET', `/v1/sessions/${session}?touch=%74rue`, []],
      ['GET', '/v1/sessions/not-a-session-id', []],
      ['GET', `/v1/sessions/${'A'.repeat(43)}`, []],
    ])
  } finally {
    await close()
  }
})

test('with a token: no token, a wrong one, two Authorization lines and the right one answer alike on both sides', async () => {
  const { hot, hono, session, close } = await pair({ CACHECAR_TOKEN: TOKEN })
  try {
    await assertSameAnswers(hot, hono, [
      ['GET', '/v1/kv/app/small', []],
      ['GET', '/v1/kv/app/small', [['authorization', 'Bearer wrong-token']]],
      ['GET', '/v1/kv/app/small', [['authorization', `Bearer ${TOKEN}`]]],
      [
        'GET',
        '/v1/kv/app/small',
        [
          ['authorization', `Bearer ${TOKEN}`],
          ['authorization', `Bearer ${TOKEN}`],
        ],
      ],
      ['GET', '/v1/kv/app/missing', [['authorization', `bearer  ${TOKEN} `]]],
      ['GET', `/v1/sessions/${session}`, []],
      ['GET', `/v1/sessions/${session}`, [['authorization', `Bearer ${TOKEN}`]]],
    ])
  } finally {
    await close()
  }
})

test('the hot path answers only plain GETs of one entry or one session; everything else is left to Hono', async () => {
  const clock = new ManualClock()
  const config = loadConfig({ CACHECAR_DB_PATH: ':memory:' })
  const store = new SqliteStore({ path: ':memory:', maxBytes: config.maxBytes, now: clock.now })
  const metrics = createMetrics(() => store)
  const parts = apiParts({ config, store, metrics, now: clock.now })
  await store.set({ namespace: 'app', key: 'k', value: Buffer.from('v'), contentType: 'text/plain', ttlMs: 60_000 })
  const hot = hotRoutes({
    ...parts,
    record: () => {},
    problemFor: () => ({ kind: 'internal', status: 500, title: 'x', detail: 'x' }),
  })
  // Whatever the hot path leaves gets 599 here.
  const server: Server = createServer((req, res) => {
    if (!hot(req, res)) res.writeHead(599).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  try {
    const answered = async (method: string, path: string, headers: [string, string][] = []) => {
      const { status } = await send(port, method, path, headers)
      return status !== 599
    }
    assert.ok(await answered('GET', '/v1/kv/app/k'))
    assert.ok(await answered('GET', '/v1/kv/app/k?x=1'))
    assert.ok(await answered('GET', '/v1/kv/app/missing'), 'a 404 too')
    assert.ok(await answered('GET', '/v1/sessions/some-id'))
    assert.ok(await answered('GET', '/v1/kv/app/k', [['content-length', '0']]))
    for (const [method, path, headers] of [
      ['HEAD', '/v1/kv/app/k', []],
      ['PUT', '/v1/kv/app/k', []],
      ['GET', '/v1/kv/app', []],
      ['GET', '/v1/kv/app/k/', []],
      ['GET', '/v1/kv//k', []],
      ['GET', '/v1/kv/app/k/incr', []],
      ['GET', '/v1/kv/app/../app/k', []],
      ['GET', '/v1/kv/app/%2e%2e', []],
      ['GET', '/v1/kv/app/k', [['content-length', '3']]],
      ['GET', '/v1/kv/app/k', [['transfer-encoding', 'chunked']]],
      ['GET', '/v1/sessions', []],
      ['GET', '/v1/sessions/id/rotate', []],
      ['GET', '/metrics', []],
    ] as [string, string, [string, string][]][]) {
      assert.not.ok(await answered(method, path, headers), `${method} ${path} ${JSON.stringify(headers)}`)
    }
  } finally {
    server.close()
    await store.close()
  }
})

test.run()
