// Starts cachecar in-process on 127.0.0.1:0 with a manual clock, for end-to-end proxy tests.
import { request } from 'node:http'
import { loadConfig } from '../../src/config.ts'
import { start, type Running, type StartOptions } from '../../src/wiring/server.ts'
import { ManualClock } from './clock.ts'
import { capturingLogger } from './logs.ts'

export interface TestCachecar extends Running {
  readonly clock: ManualClock
  readonly logs: string[]
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: string }>
  /** A request sent exactly as written (fetch would normalise the path and drop fields such as Connection). */
  raw(
    method: string,
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>
}

/** The clock starts on a whole second, as HTTP dates do, so ages computed from Date come out exact. */
export async function startCachecar(
  env: Record<string, string>,
  clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000),
  options: Omit<StartOptions, 'now'> = {},
): Promise<TestCachecar> {
  const config = loadConfig({
    CACHECAR_PORT: '0',
    CACHECAR_DB_PATH: ':memory:',
    CACHECAR_MAX_BYTES: '64MiB',
    CACHECAR_MAX_VALUE_BYTES: '8MiB',
    ...env,
  })
  const { logger, logs } = capturingLogger('warn')
  const running = await start(config, logger, { ...options, now: clock.now })
  return Object.assign(running, {
    clock,
    logs,
    async get(path: string, headers: Record<string, string> = {}) {
      const response = await fetch(running.url + path, { headers })
      return { status: response.status, headers: response.headers, body: await response.text() }
    },
    raw(method: string, path: string, headers: Record<string, string> = {}) {
      return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
        (resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: running.port, method, path, headers, agent: false }, (res) => {
            let body = ''
            res.on('data', (c: Buffer) => {
              body += c
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
            res.on('error', reject)
          })
          req.on('error', reject)
          req.end()
        },
      )
    },
  })
}
