// Starts cachecar (or a benchmark baseline) as a real child process and waits until it listens.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'

export const MAIN = join(import.meta.dirname, '..', '..', 'src', 'main.ts')

export interface Child {
  readonly process: ChildProcess
  readonly url: string
  readonly output: () => string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `script` (cachecar's main.ts by default) and resolves once it logs its "listening" line. */
export async function startChild(
  env: Record<string, string>,
  { timeoutMs = 10_000, script = MAIN, nodeArgs = [] as string[] } = {},
): Promise<Child> {
  const child = spawn(process.execPath, [...nodeArgs, script], {
    env: { PATH: process.env.PATH ?? '', CACHECAR_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`cachecar did not listen within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    )
    const onData = (chunk: Buffer) => {
      output += chunk
      const match = /"event":"listening","host":"([^"]+)","port":(\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(`http://${match[1]}:${match[2]}`)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk
    })
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`cachecar exited with ${code} before listening:\n${output}`))
    })
  })
  return { process: child, url, output: () => output, exited }
}

/** Runs main.ts to completion (for --help and bad configuration). */
export async function runMain(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => {
    stdout += c
  })
  child.stderr.on('data', (c: Buffer) => {
    stderr += c
  })
  const [code] = await once(child, 'exit')
  return { code: code as number | null, stdout, stderr }
}

/** A loopback port free right now, for servers that cannot listen on port 0 themselves (redis-server, nginx). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
