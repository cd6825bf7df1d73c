// A real redis-server on a free loopback port for shared-tier tests; installed from Debian's package when absent.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { freePort } from './process.ts'

export interface TestRedis {
  readonly port: number
  readonly url: string
  /** Kills the server at once (SIGKILL): an outage, not a shutdown. */
  kill(): Promise<void>
  /** SIGSTOP / SIGCONT: a server that accepts bytes and never answers, then recovers. */
  pause(): void
  resume(): void
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>
  stop(): Promise<void>
}

const CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/bin/valkey-server']

export function redisServerPath(): string {
  let found = CANDIDATES.find((path) => existsSync(path))
  if (!found && process.getuid?.() === 0) {
    execFileSync('apt-get', ['install', '-y', '-q', 'redis-server'], {
      stdio: 'ignore',
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
    found = CANDIDATES.find((path) => existsSync(path))
  }
  if (!found)
    throw new Error('redis-server is not installed and could not be installed (apt-get install redis-server, as root)')
  return found
}

export interface RedisOptions {
  /** Serve TLS only (as ElastiCache with in-transit encryption does), with this certificate and key. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string }
  /** Require AUTH with this password (the default user's, as ElastiCache AUTH tokens are). */
  readonly password?: string
}

function launch(binary: string, port: number, options: RedisOptions): Promise<ChildProcess> {
  const listen = options.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        options.tls.certFile,
        '--tls-key-file',
        options.tls.keyFile,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)]
  const auth = options.password ? ['--requirepass', options.password] : []
  const child = spawn(
    binary,
    [...listen, ...auth, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`redis-server did not start: ${output}`))
    }, 10_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        child.stdout!.removeAllListeners('data')
        child.stdout!.resume()
        // The server must never keep the test process alive; it is killed when the process exits.
        child.unref()
        ;(child.stdout as unknown as { unref(): void }).unref()
        ;(child.stderr as unknown as { unref(): void }).unref()
        process.once('exit', () => child.kill('SIGKILL'))
        resolve(child)
      }
    })
    child.stderr!.resume()
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited (${code}): ${output}`))
    })
  })
}

async function ended(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.ref() // unref'd while it runs; waiting for its exit must keep the process alive
  child.kill(signal)
  await exited
}

export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  const binary = redisServerPath()
  const port = await freePort()
  let child = await launch(binary, port, options)
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : ''
  return {
    port,
    url: options.tls ? `rediss://${auth}localhost:${port}` : `redis://${auth}127.0.0.1:${port}`,
    kill: () => ended(child, 'SIGKILL'),
    pause: () => {
      child.kill('SIGSTOP')
    },
    resume: () => {
      child.kill('SIGCONT')
    },
    async restart() {
      await ended(child, 'SIGKILL')
      child = await launch(binary, port, options)
    },
    async stop() {
      child.kill('SIGCONT')
      await ended(child, 'SIGKILL')
    },
  }
}
