// Internal data (sessions, stored HTTP responses, their tags) lives in a key space no /v1/kv request can name:
// every key/value route is tried against it, on the local store and on the tiered store over a real redis-server.
import * as fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isInternal } from '../../src/store/keyspace.ts'
import { namespaceOf, tagsOf } from '../../src/kv/validate.ts'
import { startCachecar, type TestCachecar } from '../helpers/cachecar.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'
import { fakeUpstream, type FakeUpstream } from '../helpers/upstream.ts'

const names = suite('key/value validation')

names('no key/value namespace or tag, however spelled, is an internal name', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string({ unit: 'grapheme' }),
        fc.constantFrom('#sessions', '#http:api', '#', '%23sessions'),
      ),
      (raw) => {
        let namespace: string | undefined
        try {
          namespace = namespaceOf(raw)
        } catch {
          /* refused: fine */
        }
        let tags: string[] = []
        try {
          tags = tagsOf([raw])
        } catch {
          /* refused: fine */
        }
        return !(namespace !== undefined && isInternal(namespace)) && !tags.some(isInternal)
      },
    ),
    { numRuns: 5000 },
  )
})

names.run()

interface Context {
  car: TestCachecar
  origin: FakeUpstream
  redis?: TestRedis
}

/** The names under which today's and earlier versions kept internal data, spelled every way a path can carry them. */
const SESSION_NAMESPACES = ['sessions', '%23sessions', '%2523sessions', '%00sessions', 'sessions%00']
const HTTP_NAMESPACES = ['http:api', 'http%3Aapi', '%23http%3Aapi', '%23http:api', 'api']
const INTERNAL_TAGS = (subject: string) => [
  `subject ${subject}`,
  `#subject ${subject}`,
  subject,
  'surrogate item',
  '#surrogate item',
  'item',
]

async function call(
  car: TestCachecar,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const response = await fetch(car.url + path, {
    method,
    ...(body !== undefined && {
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    }),
  })
  return { status: response.status, text: method === 'HEAD' ? '' : await response.text() }
}

function isolationSuite(name: string, env: (context: Context) => Promise<Record<string, string>>): void {
  const test = suite<Context>(name)
  test.before.each(async (context) => {
    context.origin = await fakeUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', 'surrogate-key': 'item' })
      res.end(`private body for ${req.url}`)
    })
    context.car = await startCachecar({ CACHECAR_UPSTREAMS: `api=${context.origin.url}`, ...(await env(context)) })
  })
  test.after.each(async ({ car, origin }) => {
    await car.shutdown()
    await origin.close()
  })
  test.after(async ({ redis }) => {
    await redis?.stop()
  })

  test('sessions are unreachable through the key/value API: no route reads, lists, forges, changes or ends one', async ({
    car,
  }) => {
    const created = await call(car, 'POST', '/v1/sessions', {
      data: { user: 'alice', secret: 'S3CRET' },
      subject: 'alice',
    })
    assert.is(created.status, 201)
    const { id } = JSON.parse(created.text) as { id: string }
    const before = await call(car, 'GET', `/v1/sessions/${id}?touch=false`)
    const forged = 'f'.repeat(43)
    const forgedRecord = `${Date.now() + 3_600_000}\n"admin"\n{"role":"admin"}`
    const seen: string[] = []
    for (const ns of SESSION_NAMESPACES) {
      for (const [method, path, body] of [
        ['GET', `/v1/kv/${ns}/${id}`],
        ['HEAD', `/v1/kv/${ns}/${id}`],
        // Listed and bulk-read before any of the writes below put the app's own keys into the namespace.
        ['GET', `/v1/kv/${ns}?prefix=`],
        ['GET', `/v1/kv/${ns}?prefix=${id.slice(0, 3)}`],
        ['POST', `/v1/kv/${ns}/_bulk`, { get: [id] }],
        ['PUT', `/v1/kv/${ns}/${forged}`, forgedRecord],
        ['PUT', `/v1/kv/${ns}/${id}`, forgedRecord],
        [
          'POST',
          `/v1/kv/${ns}/_bulk`,
          {
            set: [
              { key: forged, value: forgedRecord },
              { key: id, value: forgedRecord },
            ],
          },
        ],
        ['POST', `/v1/kv/${ns}/${id}/incr`],
        ['DELETE', `/v1/kv/${ns}/${id}`],
        ['DELETE', `/v1/kv/${ns}?prefix=`],
      ] as const) {
        const answer = await call(car, method, path, body)
        assert.ok(answer.status < 500, `${method} ${path} answered ${answer.status}`)
        if (answer.status === 200 && method === 'GET' && path.includes('?prefix='))
          assert.is(answer.text, '{"items":[],"cursor":null}', path)
        seen.push(answer.text)
      }
    }
    assert.ok(await call(car, 'POST', '/v1/kv/_purge', { tags: INTERNAL_TAGS('alice') }).then((r) => r.status < 500))
    for (const text of seen) {
      assert.not.ok(
        text.includes('S3CRET') || text.includes('"found":true'),
        `a key/value answer showed the session: ${text.slice(0, 200)}`,
      )
    }
    // The session is exactly as it was, and no forged one exists.
    assert.equal(await call(car, 'GET', `/v1/sessions/${id}?touch=false`), before)
    assert.is((await call(car, 'GET', `/v1/sessions/${forged}`)).status, 404)
    assert.is(JSON.parse((await call(car, 'DELETE', '/v1/sessions?subject=admin')).text).deleted, 0)
    assert.is(JSON.parse((await call(car, 'DELETE', '/v1/sessions?subject=alice')).text).deleted, 1)
  })

  test('stored HTTP responses and their surrogate keys are unreachable through the key/value API', async ({
    car,
    origin,
  }) => {
    assert.is((await car.get('/u/api/item')).body, 'private body for /item')
    const seen: string[] = []
    for (const ns of HTTP_NAMESPACES) {
      for (const [method, path, body] of [
        ['GET', `/v1/kv/${ns}/%2Fitem`],
        ['GET', `/v1/kv/${ns}?prefix=`],
        ['POST', `/v1/kv/${ns}/_bulk`, { get: ['/item'] }],
        ['PUT', `/v1/kv/${ns}/%2Fitem`, 'poisoned'],
        ['POST', `/v1/kv/${ns}/_bulk`, { set: [{ key: '/item', value: 'poisoned' }] }],
        ['DELETE', `/v1/kv/${ns}/%2Fitem`],
        ['DELETE', `/v1/kv/${ns}?prefix=`],
      ] as const) {
        const answer = await call(car, method, path, body)
        assert.ok(answer.status < 500, `${method} ${path} answered ${answer.status}`)
        seen.push(answer.text)
      }
    }
    await call(car, 'POST', '/v1/kv/_purge', { tags: INTERNAL_TAGS('x') })
    assert.not.ok(
      seen.some((text) => text.includes('private body')),
      'a key/value answer showed a stored response',
    )
    const again = await car.get('/u/api/item')
    assert.is(again.body, 'private body for /item')
    assert.match(again.headers.get('cache-status') ?? '', /; hit/)
    assert.is(origin.received.length, 1)
  })

  test.run()
}

isolationSuite('internal data isolation: local store', async () => ({}))

isolationSuite('internal data isolation: tiered store over redis-server', async (context) => {
  context.redis ??= await startRedis()
  return {
    CACHECAR_SHARED_URL: context.redis.url,
    CACHECAR_SHARED_PREFIX: `iso${Math.random().toString(36).slice(2)}:`,
  }
})
