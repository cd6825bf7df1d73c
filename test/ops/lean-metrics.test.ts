// The lean counters and histograms of the hot paths must expose exactly what prom-client's own would for the same
// events: dashboards and alerts read these lines.
import { Counter, Histogram, Registry } from 'prom-client'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LeanCounter, LeanHistogram } from '../../src/ops/lean-metrics.ts'
import { labelledOnce } from '../../src/ops/metrics.ts'

const BUCKETS = [0.0001, 0.001, 0.01, 0.1, 1]
const OBSERVED = [0, 0.0001, 0.00005, 0.002, 0.5, 1, 7, 0.01]

async function exposition(lean: boolean): Promise<string> {
  const registry = new Registry()
  const registers = [registry]
  const counterOptions = { name: 'c_total', help: 'a counter', labelNames: ['method', 'route'], registers }
  const histogramOptions = {
    name: 'h_seconds',
    help: 'a histogram',
    labelNames: ['route'],
    registers,
    buckets: BUCKETS,
  }
  const counter = lean ? new LeanCounter(counterOptions) : new Counter(counterOptions)
  const histogram = lean ? new LeanHistogram(histogramOptions) : new Histogram(histogramOptions)
  counter.labels('GET', '/a').inc()
  counter.labels('GET', '/a').inc(2)
  counter.labels('PUT', '/b "quoted"\\').inc()
  for (const value of OBSERVED) histogram.labels('/a').observe(value)
  histogram.labels('/b').observe(0.3)
  return registry.metrics()
}

test('a lean counter and histogram expose the text prom-client would for the same events', async () => {
  assert.fixture(await exposition(true), await exposition(false))
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
