// Which request targets the proxy answers, and the upstream name and cache key it reads from each.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { proxyTarget } from '../../src/http-cache/proxy/target.ts'
import { Problem } from '../../src/http/problem.ts'

const REFUSED = 'refused (400)' as const

const cases: [
  target: string,
  expected: Exclude<ReturnType<typeof proxyTarget>, Problem> | typeof REFUSED,
  why: string,
][] = [
  [
    '/u/api/v2/items?x=1',
    { name: 'api', key: '/v2/items?x=1', route: '/u/:name/*' },
    'path and query after the name, as received',
  ],
  ['/u/api', { name: 'api', key: '/', route: '/u/:name' }, 'no path: the upstream root'],
  ['/u/api?x=1', { name: 'api', key: '/?x=1', route: '/u/:name' }, 'a query with no path'],
  [
    '/u/api//evil.example/x',
    { name: 'api', key: '//evil.example/x', route: '/u/:name/*' },
    'a double slash stays a path',
  ],
  [
    '/u/api/%2F%2Fevil/x',
    { name: 'api', key: '/%2F%2Fevil/x', route: '/u/:name/*' },
    'escapes are kept, never decoded',
  ],
  [
    '/u/api/a b',
    { name: 'api', key: '/a%20b', route: '/u/:name/*' },
    'an unusual character is escaped, as the Hono adapter does',
  ],
  ['/u/api/a/../b', { name: 'api', key: '/b', route: '/u/:name/*' }, 'dot segments resolve before routing'],
  ['/u/api/..//evil.example/x', REFUSED, 'dot segments that leave no upstream name'],
  ['/u/api/../admin/x', REFUSED, 'dot segments that climb into another upstream'],
  ['/u/api/%2e%2e/admin/x', REFUSED, 'encoded dot segments that climb into another upstream'],
  ['/u/api/%2E%2e/admin', REFUSED, 'encoded dot segments, mixed case'],
  ['/u/api/.%2E?x=1', REFUSED, 'half-encoded dot segment, then a query'],
  ['http://evil.example/u/api/../admin/x', REFUSED, 'absolute-form that climbs out'],
  [
    '/u/api/a/%2e%2e/b',
    { name: 'api', key: '/b', route: '/u/:name/*' },
    'encoded dot segments that stay inside the upstream',
  ],
  [
    '/u/api/x?next=/../admin',
    { name: 'api', key: '/x?next=/../admin', route: '/u/:name/*' },
    'dots in the query are data',
  ],
  ['/u/api/x#frag', { name: 'api', key: '/x', route: '/u/:name/*' }, 'a fragment is neither sent nor keyed'],
  ['/u/api/x?y=1#/../admin', { name: 'api', key: '/x?y=1', route: '/u/:name/*' }, 'a fragment after a query'],
  ['/x/../u/api/y', { name: 'api', key: '/y', route: '/u/:name/*' }, 'dot segments that lead into the proxy'],
  [
    'http://evil.example/u/api/x',
    { name: 'api', key: '/x', route: '/u/:name/*' },
    'absolute-form: the authority is ignored',
  ],
  ['http://evil.example', undefined, 'absolute-form with no path'],
  ['/u/api/\\evil.example/x', undefined, 'a backslash in the path: left to the adapter, which answers 400'],
  ['/u//x', undefined, 'an empty upstream name'],
  ['/u/', undefined, 'no upstream name'],
  ['/v1/kv/ns/k', undefined, 'another route'],
  ['/ux/api', undefined, 'a prefix that is not /u/'],
  ['*', undefined, 'asterisk-form'],
  ['evil.example:80', undefined, 'authority-form'],
]

for (const [target, expected, why] of cases) {
  test(`${JSON.stringify(target)}: ${why}`, () => {
    const got = proxyTarget(target)
    if (expected === REFUSED)
      assert.ok(got instanceof Problem && got.status === 400, `expected a 400, got ${JSON.stringify(got)}`)
    else assert.equal(got, expected)
  })
}

test.run()
