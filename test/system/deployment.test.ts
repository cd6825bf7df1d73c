// Cross-checks the Dockerfile and task-definition.json against the code, since no Docker engine runs here.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../../src/config.ts'
import { parseSize } from '../../src/config/units.ts'
import { startCachecar } from '../helpers/cachecar.ts'
import { ROOT, container, dockerfile, startScript, taskDefinition, taskDefinitionText } from '../helpers/deployment.ts'

/** Typechecks `json` as a RegisterTaskDefinitionCommandInput object literal (excess keys and wrong types fail). */
function typecheckTaskDefinition(json: string): { ok: boolean; output: string } {
  const dir = join(ROOT, '.tmp', `taskdef-${process.pid}`)
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'check.ts')
  writeFileSync(
    file,
    `import type { RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs'\nexport const definition: RegisterTaskDefinitionCommandInput = ${json}\n`,
  )
  const tsc = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      file,
    ],
    { encoding: 'utf8', cwd: ROOT },
  )
  rmSync(dir, { recursive: true, force: true })
  return { ok: tsc.status === 0, output: tsc.stdout + tsc.stderr }
}

test('task-definition.json typechecks against the ECS API types, and a misspelled key would fail', () => {
  const good = typecheckTaskDefinition(taskDefinitionText())
  assert.ok(good.ok, good.output)
  const misspelled = typecheckTaskDefinition(
    taskDefinitionText().replace('"readonlyRootFilesystem"', '"readOnlyRootFilesystem"'),
  )
  assert.not.ok(misspelled.ok, 'a misspelled key must fail the check')
  const wrongType = typecheckTaskDefinition(taskDefinitionText().replace('"stopTimeout": 30', '"stopTimeout": "30"'))
  assert.not.ok(wrongType.ok, 'a wrong type must fail the check')
})

test('every CACHECAR_* setting in the image and the task definition exists and parses', () => {
  const env: Record<string, string> = { ...dockerfile().env }
  for (const { name, value } of container('cachecar').environment ?? []) env[name] = value
  for (const { name } of container('cachecar').secrets ?? []) env[name] = 'a-secret-token-of-sufficient-length'
  const known = new Set(['NODE_ENV', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'])
  const config = loadConfig(env)
  for (const name of Object.keys(env)) {
    if (known.has(name)) continue
    assert.ok(name.startsWith('CACHECAR_'), name)
  }
  assert.is(config.port, 8787)
  assert.ok(config.token)
})

test('the image runs cachecar with the runtime settings of npm start (malloc tuning, node flags)', () => {
  const image = dockerfile()
  const start = startScript()
  assert.ok(Object.keys(start.env).length > 0 && start.nodeArgs.length > 0, 'npm start sets runtime settings')
  for (const [name, value] of Object.entries(start.env)) assert.is(image.env[name], value, name)
  assert.equal(image.cmd.slice(1, 1 + start.nodeArgs.length), start.nodeArgs)
})

test('ports, paths and timeouts agree across the Dockerfile, the task definition and the code', () => {
  const image = dockerfile()
  const car = container('cachecar')
  const app = container('app')
  const carEnv = Object.fromEntries((car.environment ?? []).map((e) => [e.name, e.value]))
  const config = loadConfig({ ...image.env, ...carEnv })
  // The app reaches cachecar on the shared localhost at cachecar's port.
  const appUrl = (app.environment ?? []).find((e) => e.name === 'CACHECAR_URL')!.value
  assert.is(new URL(appUrl).port, String(config.port))
  assert.is(new URL(appUrl).hostname, '127.0.0.1')
  // The task volume is mounted where the image keeps its database, which the image declares as a VOLUME.
  const dataDir = dirname(config.dbPath)
  assert.equal(
    car.mountPoints?.map((m) => m.containerPath),
    [dataDir],
  )
  assert.ok(image.volumes.includes(dataDir))
  assert.is(dirname(image.env.CACHECAR_DB_PATH!), dataDir)
  assert.match(image.text, `chown node:node ${dataDir}`)
  assert.ok(taskDefinition().volumes?.some((v) => v.name === car.mountPoints![0]!.sourceVolume))
  // ECS waits stopTimeout before SIGKILL: the drain must end well before it.
  assert.ok(
    car.stopTimeout! * 1000 > config.shutdownGraceMs,
    `stopTimeout ${car.stopTimeout}s vs grace ${config.shutdownGraceMs} ms`,
  )
  // The ephemeral disk holds the whole byte budget with room to spare.
  assert.ok(taskDefinition().ephemeralStorage!.sizeInGiB * 1024 ** 3 > config.maxBytes)
  // Containers fit in the task.
  const containers = taskDefinition().containerDefinitions
  assert.ok(containers.reduce((s, c) => s + (c.cpu ?? 0), 0) <= Number(taskDefinition().cpu))
  assert.ok(containers.reduce((s, c) => s + (c.memory ?? 0), 0) <= Number(taskDefinition().memory))
  assert.ok(
    (parseSize(carEnv.CACHECAR_MEMORY_BYTES ?? '16MiB') ?? 0) < ((car.memory ?? 0) * 1024 ** 2) / 2,
    'the hot tier leaves room in the container memory',
  )
})

test('the sidecar runs hardened: non-root, read-only root, init process, awslogs, app waits for HEALTHY', () => {
  const car = container('cachecar')
  assert.is(car.readonlyRootFilesystem, true)
  assert.is(car.linuxParameters?.initProcessEnabled, true)
  assert.ok(car.user && car.user !== 'root' && !car.user.startsWith('0'))
  assert.is(car.logConfiguration?.logDriver, 'awslogs')
  assert.equal(container('app').dependsOn, [{ containerName: 'cachecar', condition: 'HEALTHY' }])
  assert.match(dockerfile().text, /^USER node$/m)
  assert.match(dockerfile().text, /npm ci --omit=dev/)
})

test('the health check, run as written, passes against a running cachecar and fails against a stopped one', async () => {
  const image = dockerfile()
  const ecs = container('cachecar').healthCheck!.command
  assert.is(ecs[0], 'CMD')
  // Both name the same script: the ECS path is the image's WORKDIR plus the Dockerfile's relative path.
  assert.is(
    ecs.slice(2).join(' '),
    image.healthcheck
      .slice(1)
      .map((arg) => (arg.startsWith('dist/') ? `${image.workdir}/${arg}` : arg))
      .join(' '),
  )
  assert.ok(image.copies.some((c) => c.join(' ') === '--from=build /app/dist ./dist'))
  // The image runs the compiled health check; its source is what runs here (the smoke test runs the compiled one).
  const script = join(ROOT, image.healthcheck[1]!.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))
  const car = await startCachecar({})
  // Asynchronous: cachecar runs in this process and must keep answering while the check runs.
  const run = async (port: number) => {
    const child = spawn(process.execPath, [script], {
      env: { PATH: process.env.PATH ?? '', CACHECAR_PORT: String(port) },
      stdio: 'ignore',
    })
    const [code] = await once(child, 'exit')
    return code as number
  }
  assert.is(await run(car.port), 0)
  await car.shutdown()
  assert.is(await run(car.port), 1)
})

test.run()
