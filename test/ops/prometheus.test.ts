// cachecar writes its own Prometheus text (src/ops/prometheus.ts says why); it must be exactly what prom-client would
// expose for the same events, since dashboards and alerts read these lines. prom-client stays a dev dependency for
// this comparison only.
import * as prom from 'prom-client'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { labelledOnce } from '../../src/ops/metrics.ts'
import { registerProcessMetrics } from '../../src/ops/process-metrics.ts'
import { Counter, Gauge, Histogram, Registry } from '../../src/ops/prometheus.ts'

const BUCKETS = [0.0001, 0.001, 0.01, 0.1, 1]
const OBSERVED = [0, 0.0001, 0.00005, 0.002, 0.5, 1, 7, 0.01]

/** The same events on both implementations: labelled and unlabelled, unused families, escapes, NaN and infinities. */
async function exposition(ours: boolean): Promise<string> {
  const promRegistry = new prom.Registry()
  const registry = new Registry()
  const registers = [promRegistry]
  const add = <T extends { name: string }>(mine: () => T, theirs: () => unknown): T => {
    if (ours) return registry.register(mine() as T & { exposition(): Promise<string> })
    return theirs() as T
  }
  const counter = add(
    () => new Counter({ name: 'c_total', help: 'a counter', labelNames: ['method', 'route'] }),
    () => new prom.Counter({ name: 'c_total', help: 'a counter', labelNames: ['method', 'route'], registers }),
  )
  const plain = add(
    () => new Counter({ name: 'plain_total', help: 'help with \\ and\nnewline' }),
    () => new prom.Counter({ name: 'plain_total', help: 'help with \\ and\nnewline', registers }),
  )
  add(
    () => new Counter({ name: 'unused_total', help: 'labelled, never used', labelNames: ['x'] }),
    () => new prom.Counter({ name: 'unused_total', help: 'labelled, never used', labelNames: ['x'], registers }),
  )
  const gauge = add(
    () => new Gauge({ name: 'g', help: 'a gauge', labelNames: ['kind'] }),
    () => new prom.Gauge({ name: 'g', help: 'a gauge', labelNames: ['kind'], registers }),
  )
  const level = add(
    () => new Gauge({ name: 'level', help: 'an unlabelled gauge' }),
    () => new prom.Gauge({ name: 'level', help: 'an unlabelled gauge', registers }),
  )
  add(
    () => new Gauge({ name: 'untouched', help: 'never set' }),
    () => new prom.Gauge({ name: 'untouched', help: 'never set', registers }),
  )
  const histogram = add(
    () => new Histogram({ name: 'h_seconds', help: 'a histogram', labelNames: ['route'], buckets: BUCKETS }),
    () =>
      new prom.Histogram({
        name: 'h_seconds',
        help: 'a histogram',
        labelNames: ['route'],
        registers,
        buckets: BUCKETS,
      }),
  )
  const once = add(
    () => new Histogram({ name: 'once_seconds', help: 'unlabelled', buckets: [0.5, 1] }),
    () => new prom.Histogram({ name: 'once_seconds', help: 'unlabelled', registers, buckets: [0.5, 1] }),
  )
  counter.labels('GET', '/a').inc()
  counter.labels('GET', '/a').inc(2)
  counter.labels('PUT', '/b "quoted"\\\nline').inc()
  plain.inc(0.25)
  gauge.labels('nan').set(Number.NaN)
  gauge.labels('up').set(Number.POSITIVE_INFINITY)
  gauge.labels('down').set(Number.NEGATIVE_INFINITY)
  gauge.labels('plain').set(-3.5)
  level.set(1e21)
  for (const value of OBSERVED) histogram.labels('/a').observe(value)
  histogram.labels('/b').observe(0.3)
  once.observe(0.7)
  return ours ? registry.metrics() : promRegistry.metrics()
}

test('counters, gauges and histograms expose the text prom-client would for the same events', async () => {
  assert.fixture(await exposition(true), await exposition(false))
})

test('a registry refuses a second metric of the same name', () => {
  const registry = new Registry()
  registry.register(new Counter({ name: 'twice_total', help: 'x' }))
  assert.throws(() => registry.register(new Gauge({ name: 'twice_total', help: 'y' })), /twice_total/)
})

/** Each family of the text: its HELP and TYPE lines. */
function families(text: string): Map<string, string> {
  const found = new Map<string, string>()
  for (const line of text.split('\n')) {
    const match = /^# (?:HELP|TYPE) (\S+) /.exec(line)
    if (match) found.set(match[1]!, `${found.get(match[1]!) ?? ''}${line}\n`)
  }
  return found
}

const value = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])

test("process metrics keep prom-client's names, types and help texts", async () => {
  const registry = new Registry()
  registerProcessMetrics(registry)
  const theirs = new prom.Registry()
  prom.collectDefaultMetrics({ register: theirs })
  const ours = families(await registry.metrics())
  const reference = families(await theirs.metrics())
  for (const name of [
    'process_cpu_user_seconds_total',
    'process_cpu_system_seconds_total',
    'process_cpu_seconds_total',
    'process_start_time_seconds',
    'process_resident_memory_bytes',
    'process_virtual_memory_bytes',
    'process_heap_bytes',
    'process_open_fds',
    'process_max_fds',
    'nodejs_eventloop_lag_seconds',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_external_memory_bytes',
    'nodejs_version_info',
  ]) {
    assert.ok(ours.has(name), `${name} is exposed`)
    assert.is(ours.get(name), reference.get(name), name)
  }
  for (const name of ours.keys()) assert.ok(reference.has(name), `${name} is one of prom-client's`)
})

test('process metrics read this process: memory, CPU, start time, descriptors, event-loop lag', async () => {
  const registry = new Registry()
  registerProcessMetrics(registry, 1)
  const rss = (await import('node:fs')).readFileSync('/proc/self/status', 'latin1')
  const procRss = Number(/^VmRSS:\s+(\d+) kB/m.exec(rss)?.[1]) * 1024
  // The delay monitor measures from one of its 1 ms timers to the next: let it fire once before holding the loop.
  await new Promise((resolve) => setTimeout(resolve, 3))
  // Busy for 60 ms: CPU time grows and the loop is late by about that much.
  const until = performance.now() + 60
  while (performance.now() < until) Math.sqrt(Math.random())
  // Two turns of the loop: its delay monitor's timer runs (late) in between.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve))
  const text = await registry.metrics()
  const resident = value(text, 'process_resident_memory_bytes')
  assert.ok(Math.abs(resident - procRss) < 32 * 1024 * 1024, `resident ${resident} near /proc's ${procRss}`)
  assert.ok(value(text, 'process_cpu_seconds_total') >= 0.05, 'CPU time of the busy loop counted')
  const started = value(text, 'process_start_time_seconds')
  assert.ok(Math.abs(started - (Date.now() / 1000 - process.uptime())) <= 1, 'start time from the uptime')
  assert.ok(value(text, 'process_open_fds') >= 3, 'stdio at least')
  assert.ok(value(text, 'nodejs_eventloop_lag_max_seconds') >= 0.05, 'the 60 ms the loop was held')
  assert.ok(value(text, 'nodejs_heap_size_used_bytes') > 0)
  assert.match(text, `nodejs_version_info{version="${process.version}"`)
  // Percentiles cover the interval since the previous scrape: the next one no longer sees the held loop.
  assert.ok(value(await registry.metrics(), 'nodejs_eventloop_lag_max_seconds') < 0.05)
})

test('labelledOnce makes a child once per set of values and tells different sets apart', () => {
  const made: string[] = []
  const child = labelledOnce((a, b, c) => {
    made.push(`${a}|${b}|${c}`)
    return { a, b, c }
  })
  const first = child('GET', '/x', '200')
  assert.is(child('GET', '/x', '200'), first)
  assert.is.not(child('GET', '/x', '404'), first)
  assert.is.not(child('GET', '/y', '200'), first)
  const one = labelledOnce((a) => ({ a }))
  assert.is(one('hit'), one('hit'))
  assert.is.not(one('hit'), one('miss'))
  assert.equal(made, ['GET|/x|200', 'GET|/x|404', 'GET|/y|200'])
})

test.run()
