// Proxy scenarios for npm run bench: hits beside bare Hono, misses beside a passthrough proxy and the origin, a herd.
import { join } from 'node:path'
import { Agent, fetch as undiciFetch } from 'undici'
import { startChild, type Child } from '../test/helpers/process.ts'
import { COMPARE_HEADER, compare, compareRow, load } from './lib.ts'
import { startNginx } from './nginx.ts'

const here = import.meta.dirname

export async function proxyScenarios(
  bareUrl: string,
  startCachecar: (name: string, env: Record<string, string>) => Promise<Child>,
  dir: string,
): Promise<string[]> {
  const origin = await startChild({}, { script: join(here, 'origin.ts') })
  const passthrough = await startChild({ ORIGIN_URL: origin.url }, { script: join(here, 'passthrough.ts') })
  const car = await startCachecar('proxy', { CACHECAR_UPSTREAMS: `origin=${origin.url}` })
  const rows: string[] = ['### Read-through cache', '', ...COMPARE_HEADER]
  try {
    for (let i = 0; i < 100; i++) {
      await (await fetch(`${car.url}/u/origin/small/k${i}`)).arrayBuffer()
      await (await fetch(`${car.url}/u/origin/large/k${i}`)).arrayBuffer()
    }
    const scenarios = [
      {
        name: 'hit 1 KiB vs bare Hono, same bytes',
        base: `${bareUrl}/v1/kv/small`,
        path: '/u/origin/small',
        keys: 100,
        target: 0.85,
      },
      {
        name: 'hit 64 KiB vs bare Hono, same bytes',
        base: `${bareUrl}/v1/kv/large`,
        path: '/u/origin/large',
        keys: 100,
        target: 0.6,
      },
      // Every request names a URL no earlier run named: a true miss that is fetched, streamed and stored.
      {
        name: 'miss 1 KiB vs Hono+undici passthrough (no cache)',
        base: `${passthrough.url}/miss`,
        path: '/u/origin/miss',
        keys: 1e12,
        target: 0.9,
        fresh: true,
      },
      {
        name: 'miss 1 KiB vs the origin called directly',
        base: `${origin.url}/miss2`,
        path: '/u/origin/miss2',
        keys: 1e12,
        target: 0,
        fresh: true,
      },
    ]
    for (const s of scenarios) {
      const extra = { fresh: s.fresh ?? false }
      const originPrefix = `${s.path.slice('/u/origin'.length)}/`
      const upstreamBefore = await originCount(origin.url, originPrefix)
      const c = compare(
        () => load(s.base, 'GET', s.keys, extra),
        () => load(car.url + s.path, 'GET', s.keys, extra),
      )
      rows.push(compareRow(s.name, c, s.target).replace('≥ 0× ✓', 'for reference'))
      console.log(rows.at(-1))
      // A miss scenario that was served from the cache would measure hits: the origin must have seen every request.
      const upstream = (await originCount(origin.url, originPrefix)) - upstreamBefore
      if (s.fresh && upstream < c.totalA + c.totalB)
        throw new Error(
          `${s.name}: the origin saw ${upstream} requests for ${c.totalA + c.totalB} sent: not all were misses`,
        )
    }
    // The peer: nginx proxy_cache hits on the same origin and bytes, when nginx is installed.
    const nginx = await startNginx(origin.url, dir)
    if (nginx) {
      try {
        for (let i = 0; i < 100; i++) await (await fetch(`${nginx.url}/small/k${i}`)).arrayBuffer()
        const c = compare(
          () => load(`${nginx.url}/small`, 'GET', 100),
          () => load(`${car.url}/u/origin/small`, 'GET', 100),
        )
        rows.push(
          compareRow('hit 1 KiB vs nginx proxy_cache hit', c, 1)
            .replace('≥ 1× ✓', 'aim: match nginx')
            .replace('≥ 1× ✗', 'aim: match nginx'),
        )
        console.log(rows.at(-1))
        // What storing every miss costs the peer itself: its proxy_cache miss beside its own plain proxy_pass.
        const nginxPass = await startNginx(origin.url, dir, { cache: false })
        if (nginxPass) {
          try {
            const fresh = { fresh: true }
            const peer = compare(
              () => load(`${nginxPass.url}/miss3`, 'GET', 1e12, fresh),
              () => load(`${nginx.url}/miss3`, 'GET', 1e12, fresh),
            )
            rows.push(
              compareRow('nginx proxy_cache miss vs nginx proxy_pass, no cache (both columns nginx)', peer, 0).replace(
                '≥ 0× ✓',
                "the peer's own cost of storing",
              ),
            )
            console.log(rows.at(-1))
            const vsPeer = compare(
              () => load(`${nginx.url}/miss4`, 'GET', 1e12, fresh),
              () => load(`${car.url}/u/origin/miss4`, 'GET', 1e12, fresh),
            )
            rows.push(compareRow('miss 1 KiB vs nginx proxy_cache miss', vsPeer, 0).replace('≥ 0× ✓', 'for reference'))
            console.log(rows.at(-1))
          } finally {
            nginxPass.process.kill('SIGTERM')
          }
        }
      } finally {
        nginx.process.kill('SIGTERM')
      }
    } else rows.push('', 'nginx is not installed (apt-get install nginx-light): no proxy_cache comparison in this run.')
    // A herd: 1,000 concurrent requests on one cold key whose origin answer takes 200 ms.
    // A fresh client pool, so no socket left idle by earlier scenarios meets cachecar's keep-alive timeout.
    const herdClient = new Agent({ connections: 1000 })
    const responses = await Promise.all(
      Array.from({ length: 1000 }, () =>
        undiciFetch(`${car.url}/u/origin/slow/cold`, { dispatcher: herdClient })
          .then(async (r) => ({ status: r.status, size: (await r.arrayBuffer()).byteLength, error: '' }))
          .catch((error: Error) => ({
            status: 0,
            size: 0,
            error: `${error.message} ${(error.cause as Error | undefined)?.message ?? ''}`,
          })),
      ),
    )
    const errors = [...new Set(responses.filter((r) => r.error).map((r) => r.error))]
    await herdClient.close()
    const count = await originCount(origin.url, '/slow/')
    const ok = responses.filter((r) => r.status === 200 && r.size === 1024).length
    rows.push(
      '',
      `Herd: 1,000 concurrent requests on one cold key → **${count} upstream request(s)** (target 1 ${count === 1 ? '✓' : '✗'}); ${ok} of 1,000 got the full 1 KiB body${errors.length ? `; client errors: ${errors.join('; ')}` : ''}.`,
    )
    console.log(rows.at(-1))
  } finally {
    for (const child of [car, passthrough, origin]) child.process.kill('SIGTERM')
    await Promise.all([car.exited, passthrough.exited, origin.exited])
  }
  return rows
}

/** How many requests the bench origin has answered for paths starting with `prefix`. */
async function originCount(originUrl: string, prefix: string): Promise<number> {
  return ((await (await fetch(`${originUrl}/count?prefix=${encodeURIComponent(prefix)}`)).json()) as { count: number })
    .count
}
