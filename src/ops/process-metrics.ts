// The process metrics dashboards expect from a Node service, under prom-client's names and help texts (CPU, memory,
// file descriptors, start time, event-loop lag, heap, version), read at scrape time. prom-client's heap-space, GC
// and active-handle families are left out: nothing in cachecar's alerts reads them, and each costs a module.
import { readdirSync, readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Counter, Gauge, type Registry } from './prometheus.ts'

/** Fields of /proc/self/status in bytes (kB in the file), or nothing where /proc is missing. */
function procStatus(): Map<string, number> {
  const fields = new Map<string, number>()
  try {
    for (const line of readFileSync('/proc/self/status', 'latin1').split('\n')) {
      const match = /^(\w+):\s+(\d+) kB$/.exec(line)
      if (match) fields.set(match[1]!, Number(match[2]) * 1024)
    }
  } catch {
    // Not Linux: resident memory falls back to process.memoryUsage() below, the others are left out.
  }
  return fields
}

function maxOpenFiles(): number | undefined {
  try {
    const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))
    return limit ? Number(limit[1]) : undefined
  } catch {
    return undefined // Not Linux: the metric is left out.
  }
}

export function registerProcessMetrics(registry: Registry, resolutionMs = 10): void {
  let lastCpu = process.cpuUsage()
  const cpuUser = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    // This one collect sets the three CPU counters.
    collect() {
      const now = process.cpuUsage()
      const user = (now.user - lastCpu.user) / 1e6
      const system = (now.system - lastCpu.system) / 1e6
      lastCpu = now
      cpuUser.inc(user)
      cpuSystem.inc(system)
      cpuTotal.inc(user + system)
    },
  })
  const cpuSystem = new Counter({
    name: 'process_cpu_system_seconds_total',
    help: 'Total system CPU time spent in seconds.',
  })
  const cpuTotal = new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
  })
  registry.register(cpuUser)
  registry.register(cpuSystem)
  registry.register(cpuTotal)

  const startTime = new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
  })
  startTime.set(Math.round(Date.now() / 1000 - process.uptime()))
  registry.register(startTime)

  const resident = new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    // This one collect sets the three memory gauges.
    collect() {
      const status = procStatus()
      resident.set(status.get('VmRSS') ?? process.memoryUsage.rss())
      virtual.set(status.get('VmSize') ?? 0)
      heap.set(status.get('VmData') ?? 0)
    },
  })
  const virtual = new Gauge({ name: 'process_virtual_memory_bytes', help: 'Virtual memory size in bytes.' })
  const heap = new Gauge({ name: 'process_heap_bytes', help: 'Process heap size in bytes.' })
  registry.register(resident)
  registry.register(virtual)
  registry.register(heap)

  const openFds = new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    collect() {
      try {
        openFds.set(readdirSync('/proc/self/fd').length - 1) // less the descriptor that reads the folder
      } catch {
        // Not Linux: the gauge stays at zero.
      }
    },
  })
  registry.register(openFds)
  const limit = maxOpenFiles()
  if (limit !== undefined) {
    const maxFds = new Gauge({ name: 'process_max_fds', help: 'Maximum number of open file descriptors.' })
    maxFds.set(limit)
    registry.register(maxFds)
  }

  // Percentiles of event-loop delay since the previous scrape (cachecar_event_loop_delay_seconds is the cumulative
  // histogram to alert on; these are kept for the dashboards that read them).
  const delays = monitorEventLoopDelay({ resolution: resolutionMs })
  delays.enable()
  const lag = new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    collect() {
      const started = process.hrtime.bigint()
      // Resolved when the loop gets round to it: how long that took is the lag at this scrape.
      return new Promise<void>((resolve) =>
        setImmediate(() => {
          lag.set(Number(process.hrtime.bigint() - started) / 1e9)
          resolve()
        }),
      )
    },
  })
  registry.register(lag)
  const percentiles = [
    ['min', 'The minimum recorded event loop delay.', () => delays.min],
    ['max', 'The maximum recorded event loop delay.', () => delays.max],
    ['mean', 'The mean of the recorded event loop delays.', () => delays.mean],
    ['stddev', 'The standard deviation of the recorded event loop delays.', () => delays.stddev],
    ['p50', 'The 50th percentile of the recorded event loop delays.', () => delays.percentile(50)],
    ['p90', 'The 90th percentile of the recorded event loop delays.', () => delays.percentile(90)],
    ['p99', 'The 99th percentile of the recorded event loop delays.', () => delays.percentile(99)],
  ] as const
  // The first gauge's collect sets all seven from the same interval, then starts the next one.
  const lagGauges: Gauge[] = percentiles.map(
    ([name, help], i) =>
      new Gauge({
        name: `nodejs_eventloop_lag_${name}_seconds`,
        help,
        ...(i === 0 && {
          collect() {
            for (const [j, [, , read]] of percentiles.entries()) lagGauges[j]!.set(read() / 1e9)
            delays.reset()
          },
        }),
      }),
  )
  for (const gauge of lagGauges) registry.register(gauge)

  const heapTotal = new Gauge({
    name: 'nodejs_heap_size_total_bytes',
    help: 'Process heap size from Node.js in bytes.',
    // This one collect sets the three heap gauges.
    collect() {
      const usage = process.memoryUsage()
      heapTotal.set(usage.heapTotal)
      heapUsed.set(usage.heapUsed)
      external.set(usage.external)
    },
  })
  const heapUsed = new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used from Node.js in bytes.',
  })
  const external = new Gauge({ name: 'nodejs_external_memory_bytes', help: 'Node.js external memory size in bytes.' })
  registry.register(heapTotal)
  registry.register(heapUsed)
  registry.register(external)

  const [major = '', minor = '', patch = ''] = process.versions.node.split('.')
  const version = new Gauge({
    name: 'nodejs_version_info',
    help: 'Node.js version info.',
    labelNames: ['version', 'major', 'minor', 'patch'],
  })
  version.labels(process.version, major, minor, patch).set(1)
  registry.register(version)
}
