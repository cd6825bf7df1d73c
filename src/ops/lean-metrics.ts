// Counters and histograms for the hot paths. prom-client hashes a child's label values again at every inc() and
// observe() (its request counter and duration histogram took 2 % of a key/value GET's CPU, more than the read); here a
// child is made once per set of label values and then costs an addition. They register in prom-client's registry
// beside its own metrics (it asks each metric for get()), so /metrics gives the same text for them.
import type { Registry } from 'prom-client'

type Labels = Readonly<Record<string, string>>

interface Value {
  readonly metricName?: string
  readonly labels: Labels
  readonly value: number
}

export interface CounterChild {
  inc(by?: number): void
}

export interface HistogramChild {
  observe(value: number): void
}

abstract class LeanMetric<Child> {
  readonly aggregator = 'sum'
  abstract readonly type: 'counter' | 'histogram'
  readonly name: string
  readonly help: string
  readonly #labelNames: readonly string[]
  protected readonly children = new Map<string, { readonly labels: Labels; readonly child: Child }>()

  constructor(options: { name: string; help: string; labelNames?: readonly string[]; registers: Registry[] }) {
    this.name = options.name
    this.help = options.help
    this.#labelNames = options.labelNames ?? []
    for (const registry of options.registers) registry.registerMetric(this as never)
  }

  /** The child for these label values (in the order of labelNames), made on first use. */
  labels(...values: string[]): Child {
    const key = values.join('\u0000')
    let made = this.children.get(key)
    if (!made) {
      const labels = Object.fromEntries(this.#labelNames.map((name, i) => [name, values[i] ?? '']))
      made = { labels, child: this.makeChild() }
      this.children.set(key, made)
    }
    return made.child
  }

  reset(): void {
    this.children.clear()
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values = [...this.children.values()].flatMap(({ labels, child }) => this.valuesOf(labels, child))
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  protected abstract makeChild(): Child
  protected abstract valuesOf(labels: Labels, child: Child): Value[]
}

class Count implements CounterChild {
  value = 0
  inc(by = 1): void {
    this.value += by
  }
}

export class LeanCounter extends LeanMetric<CounterChild> {
  readonly type = 'counter'

  protected makeChild(): Count {
    return new Count()
  }

  protected valuesOf(labels: Labels, child: CounterChild): Value[] {
    return [{ labels, value: (child as Count).value }]
  }
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

export class LeanHistogram extends LeanMetric<HistogramChild> {
  readonly type = 'histogram'
  readonly #buckets: readonly number[]

  constructor(options: {
    name: string
    help: string
    labelNames?: readonly string[]
    registers: Registry[]
    buckets: readonly number[]
  }) {
    super(options)
    this.#buckets = [...options.buckets].sort((a, b) => a - b)
  }

  protected makeChild(): Buckets {
    return new Buckets(this.#buckets)
  }

  protected valuesOf(labels: Labels, child: HistogramChild): Value[] {
    const { counts, sum, count } = child as Buckets
    const values: Value[] = []
    let cumulative = 0
    for (const [i, bound] of this.#buckets.entries()) {
      cumulative += counts[i]!
      values.push({ metricName: `${this.name}_bucket`, labels: { le: String(bound), ...labels }, value: cumulative })
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: count })
    values.push({ metricName: `${this.name}_sum`, labels, value: sum })
    values.push({ metricName: `${this.name}_count`, labels, value: count })
    return values
  }
}
