// Reads the deployment files (Dockerfile, task-definition.json) the way the tests cross-check them.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..')

export interface ContainerDefinition {
  name: string
  cpu?: number
  memory?: number
  user?: string
  essential?: boolean
  readonlyRootFilesystem?: boolean
  stopTimeout?: number
  linuxParameters?: { initProcessEnabled?: boolean }
  environment?: { name: string; value: string }[]
  secrets?: { name: string; valueFrom: string }[]
  mountPoints?: { sourceVolume: string; containerPath: string }[]
  dependsOn?: { containerName: string; condition: string }[]
  healthCheck?: { command: string[]; interval?: number; timeout?: number }
  logConfiguration?: { logDriver: string }
}

export interface TaskDefinition {
  cpu: string
  memory: string
  ephemeralStorage?: { sizeInGiB: number }
  volumes?: { name: string }[]
  containerDefinitions: ContainerDefinition[]
}

export const taskDefinitionText = () => readFileSync(join(ROOT, 'task-definition.json'), 'utf8')
export const taskDefinition = () => JSON.parse(taskDefinitionText()) as TaskDefinition
export const container = (name: string) => taskDefinition().containerDefinitions.find((c) => c.name === name)!

/**
 * The runtime settings of `npm start` (package.json): the environment assignments before `node` and node's own
 * flags before the script. Benchmarks start cachecar with them, and a test holds the Dockerfile to the same.
 */
export function startScript(): { env: Record<string, string>; nodeArgs: string[] } {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts
  const words = scripts.start!.split(/\s+/)
  const env: Record<string, string> = {}
  let i = 0
  for (; words[i]?.includes('='); i++) {
    const [name, value] = words[i]!.split('=') as [string, string]
    env[name] = value
  }
  if (words[i] !== 'node') throw new Error(`package.json's start script does not run node: ${scripts.start}`)
  const nodeArgs: string[] = []
  for (i++; words[i]?.startsWith('--'); i++) nodeArgs.push(words[i]!)
  return { env, nodeArgs }
}

export interface Dockerfile {
  readonly env: Record<string, string>
  readonly volumes: string[]
  readonly workdir: string
  readonly healthcheck: string[]
  readonly cmd: string[]
  readonly copies: string[][]
  /** The named earlier stages (FROM … AS name): their COPY lines and RUN commands. */
  readonly stages: Record<string, { readonly copies: string[][]; readonly runs: string[] }>
  readonly text: string
}

/** The final stage's ENV, VOLUME, WORKDIR, HEALTHCHECK CMD, CMD and COPY lines (exec form only). */
export function dockerfile(): Dockerfile {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n')
  const finalStage = lines.slice(lines.findLastIndex((l) => l.startsWith('FROM ')))
  const env: Record<string, string> = {}
  const volumes: string[] = []
  const copies: string[][] = []
  let workdir = '/'
  let healthcheck: string[] = []
  let cmd: string[] = []
  for (const line of finalStage) {
    const [instruction, ...rest] = line.trim().split(/\s+/)
    const args = rest.join(' ')
    if (instruction === 'ENV') for (const [, k, v] of args.matchAll(/(\w+)=(\S+)/g)) env[k!] = v!
    if (instruction === 'VOLUME') volumes.push(...(JSON.parse(args) as string[]))
    if (instruction === 'WORKDIR') workdir = args
    if (instruction === 'COPY') copies.push(rest)
    if (instruction === 'HEALTHCHECK') healthcheck = JSON.parse(args.slice(args.indexOf('CMD ') + 4)) as string[]
    if (instruction === 'CMD') cmd = JSON.parse(args) as string[]
  }
  const stages: Dockerfile['stages'] = {}
  let stage: { copies: string[][]; runs: string[] } | undefined
  for (const line of lines.slice(0, lines.length - finalStage.length)) {
    const [instruction, ...rest] = line.trim().split(/\s+/)
    if (instruction === 'FROM') {
      stage = { copies: [], runs: [] }
      const as = rest.findIndex((word) => word.toUpperCase() === 'AS')
      if (as !== -1) stages[rest[as + 1]!] = stage
    }
    if (instruction === 'COPY') stage?.copies.push(rest)
    if (instruction === 'RUN') stage?.runs.push(rest.join(' '))
  }
  return { env, volumes, workdir, healthcheck, cmd, copies, stages, text }
}
