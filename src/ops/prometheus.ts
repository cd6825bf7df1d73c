// Counters, gauges and histograms in Prometheus' text format, written for cachecar instead of taken from prom-client:
// prom-client and what it loads (@opentelemetry/api, tdigest, bintrees: 90 modules) cost 8 MB of every task's idle
// memory, and it hashed a child's label values again at every inc() and observe() (2 % of a key/value GET's CPU).
// Here a child is made once per set of label values and then costs an addition. The text is prom-client's, byte for
// byte (a test compares them), so dashboards and alerts read the same lines.

type Labels = readonly (readonly [string, string])[]

const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const escapeLabel = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')

function sample(name: string, labels: Labels, value: number): string {
  const text = Number.isNaN(value) ? 'Nan' : value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : `${value}`
  if (labels.length === 0) return `${name} ${text}`
  return `${name}{${labels.map(([label, v]) => `${label}="${escapeLabel(v)}"`).join(',')}} ${text}`
}

export interface MetricOptions {
  readonly name: string
  readonly help: string
  readonly labelNames?: readonly string[]
  /** Runs before each exposition, to set values read at scrape time. */
  readonly collect?: () => void | Promise<void>
}

/** One metric family: its children by label values, each made on first use. */
abstract class Metric<Child> {
  abstract readonly type: 'counter' | 'gauge' | 'histogram'
  readonly name: string
  readonly #help: string
  readonly #labelNames: readonly string[]
  readonly #collect: (() => void | Promise<void>) | undefined
  readonly #children = new Map<string, { readonly labels: Labels; readonly child: Child }>()

  constructor(options: MetricOptions) {
    this.name = options.name
    this.#help = options.help
    this.#labelNames = options.labelNames ?? []
    this.#collect = options.collect
  }

  /** The child for these label values (in the order of labelNames), made on first use. */
  labels(...values: string[]): Child {
    const key = values.join('\u0000')
    let made = this.#children.get(key)
    if (!made) {
      const labels = this.#labelNames.map((name, i) => [name, values[i] ?? ''] as const)
      made = { labels, child: this.makeChild() }
      this.#children.set(key, made)
    }
    return made.child
  }

  /** The one child of a metric without labels; it is exposed (as zero) before its first event, as prom-client does. */
  protected get only(): Child {
    return this.labels()
  }

  protected initialise(): void {
    if (this.#labelNames.length === 0) this.labels()
  }

  async exposition(): Promise<string> {
    await this.#collect?.()
    const lines = [`# HELP ${this.name} ${escapeHelp(this.#help)}`, `# TYPE ${this.name} ${this.type}`]
    for (const { labels, child } of this.#children.values()) this.samples(labels, child, lines)
    return lines.join('\n')
  }

  protected abstract makeChild(): Child
  protected abstract samples(labels: Labels, child: Child, lines: string[]): void
}

/** A counter's or a gauge's child: one number, exposed as one sample. */
abstract class Scalar<Child extends { readonly value: number }> extends Metric<Child> {
  constructor(options: MetricOptions) {
    super(options)
    this.initialise()
  }

  protected samples(labels: Labels, child: Child, lines: string[]): void {
    lines.push(sample(this.name, labels, child.value))
  }
}

class Count {
  value = 0
  inc(by = 1): void {
    this.value += by
  }
}

export class Counter extends Scalar<Count> {
  readonly type = 'counter'

  inc(by = 1): void {
    this.only.inc(by)
  }

  protected makeChild(): Count {
    return new Count()
  }
}

class Level {
  value = 0
  set(value: number): void {
    this.value = value
  }
}

export class Gauge extends Scalar<Level> {
  readonly type = 'gauge'

  set(value: number): void {
    this.only.set(value)
  }

  protected makeChild(): Level {
    return new Level()
  }
}

export interface HistogramChild {
  observe(value: number): void
}

class Buckets implements HistogramChild {
  readonly counts: Float64Array
  sum = 0
  count = 0
  readonly #bounds: readonly number[]

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length)
  }

  observe(value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    if (i < bounds.length) this.counts[i]!++
    this.sum += value
    this.count++
  }
}

export class Histogram extends Metric<HistogramChild> {
  readonly type = 'histogram'
  readonly #bounds: readonly number[]

  constructor(options: MetricOptions & { readonly buckets: readonly number[] }) {
    super(options)
    this.#bounds = [...options.buckets].sort((a, b) => a - b)
    this.initialise()
  }

  observe(value: number): void {
    this.only.observe(value)
  }

  protected makeChild(): Buckets {
    return new Buckets(this.#bounds)
  }

  protected samples(labels: Labels, child: HistogramChild, lines: string[]): void {
    const { counts, sum, count } = child as Buckets
    const bucket = `${this.name}_bucket`
    let cumulative = 0
    for (const [i, bound] of this.#bounds.entries()) {
      cumulative += counts[i]!
      lines.push(sample(bucket, [['le', String(bound)], ...labels], cumulative))
    }
    lines.push(sample(bucket, [['le', '+Inf'], ...labels], count))
    lines.push(sample(`${this.name}_sum`, labels, sum))
    lines.push(sample(`${this.name}_count`, labels, count))
  }
}

export interface Exposable {
  readonly name: string
  exposition(): Promise<string>
}

/** The metrics of one cachecar instance, in registration order; tests run many side by side. */
export class Registry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8'
  readonly #metrics = new Map<string, Exposable>()

  register<T extends Exposable>(metric: T): T {
    if (this.#metrics.has(metric.name)) throw new Error(`metric ${metric.name} is registered twice`)
    this.#metrics.set(metric.name, metric)
    return metric
  }

  async metrics(): Promise<string> {
    const families = await Promise.all([...this.#metrics.values()].map((metric) => metric.exposition()))
    return `${families.join('\n\n')}\n`
  }
}
