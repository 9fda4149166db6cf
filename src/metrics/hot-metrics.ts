/**
 * Counters and histograms for the paths every write takes (RPC requests and calls, client writes,
 * duplication acknowledgements). prom-client's own validate the label object, hash it into a
 * string and look the series up on every `inc`/`observe`; on a loaded replica server that was
 * 3–4 % of the main thread (CPU profile, docs/benchmarks.md). Here the caller resolves a series
 * once (`child(labels)`, cached by label values) and an observation is a bucket search and a few
 * additions.
 *
 * They register in a prom-client Registry like any metric and render exactly what prom-client's
 * Counter and Histogram render for the same observations (tested side by side), so dashboards and
 * `/metrics?name=` see no difference. Differences: `reset()` zeroes the series instead of dropping
 * them (children stay valid), and there are no exemplars.
 */
import type { Metric, Registry } from "prom-client";

interface HotMetricConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registers: readonly Registry[];
}

/** One sample as prom-client's registry formats it (`sharedLabels` after the sample's own). */
interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName?: string;
  /** Histogram buckets carry prom-client's empty exemplar slot. */
  readonly exemplar?: null;
}

/** What prom-client's Registry reads of a metric. */
interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly values: readonly Sample[];
  readonly aggregator: "sum";
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

abstract class HotMetric<L extends string, C extends { readonly labels: Record<L, string> }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly aggregator = "sum";
  abstract readonly type: "counter" | "histogram";
  protected readonly children = new Map<string, C>();

  constructor(config: HotMetricConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    for (const registry of config.registers) {
      registry.registerMetric(this as unknown as Metric);
    }
  }

  /** The series for `labels`, made on first use (label values must stay a small, bounded set). */
  child(labels: Readonly<Record<L, string>>): C {
    const key = this.labelNames.map((name) => labels[name]).join("\u0000");
    let child = this.children.get(key);
    if (child === undefined) {
      const own = {} as Record<L, string>;
      for (const name of this.labelNames) own[name] = String(labels[name]);
      child = this.makeChild(own);
      this.children.set(key, child);
    }
    return child;
  }

  protected abstract makeChild(labels: Record<L, string>): C;
  protected abstract samples(child: C): Sample[];
  abstract reset(): void;

  /** Read by prom-client's Registry when it renders the text format. */
  async getForPromString(): Promise<MetricData> {
    const values: Sample[] = [];
    for (const child of this.children.values()) values.push(...this.samples(child));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: "sum" };
  }

  /** Read by `Registry.getMetricsAsJSON()`: each sample's labels in one object, as prom-client's. */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })) as unknown as Sample[],
    };
  }
}

export class HotCounterChild<L extends string> {
  value = 0;
  constructor(readonly labels: Record<L, string>) {}

  inc(amount = 1): void {
    if (!Number.isFinite(amount) || amount < 0) {
      throw new TypeError(`counter increment must be finite and not negative: ${amount}`);
    }
    this.value += amount;
  }
}

export class HotCounter<L extends string> extends HotMetric<L, HotCounterChild<L>> {
  readonly type = "counter";

  protected makeChild(labels: Record<L, string>): HotCounterChild<L> {
    return new HotCounterChild(labels);
  }

  protected samples(child: HotCounterChild<L>): Sample[] {
    return [{ labels: child.labels, sharedLabels: NO_LABELS, value: child.value }];
  }

  reset(): void {
    for (const child of this.children.values()) child.value = 0;
  }
}

export class HotHistogramChild<L extends string> {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<L, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    this.observeMany(value, 1);
  }

  /** `times` observations of `value` (a mutation's entries acknowledged together). */
  observeMany(value: number, times: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`value is not a valid number: ${value}`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + times;
    // One addition per observation, as prom-client sums: the same figures to the last bit.
    for (let n = 0; n < times; n++) this.sum += value;
    this.count += times;
  }
}

export class HotHistogram<L extends string> extends HotMetric<L, HotHistogramChild<L>> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(config: HotMetricConfig<L> & { readonly buckets: readonly number[] }) {
    super(config);
    const buckets = [...config.buckets];
    for (let i = 1; i < buckets.length; i++) {
      if (!((buckets[i] as number) > (buckets[i - 1] as number))) {
        throw new Error(`${config.name}: buckets must increase: ${buckets.join(", ")}`);
      }
    }
    this.buckets = buckets;
  }

  protected makeChild(labels: Record<L, string>): HotHistogramChild<L> {
    return new HotHistogramChild(labels, this.buckets);
  }

  protected samples(child: HotHistogramChild<L>): Sample[] {
    const bucket = `${this.name}_bucket`;
    const out: Sample[] = [];
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += child.counts[i] as number;
      out.push({
        labels: { le },
        sharedLabels: child.labels,
        value: cumulative,
        metricName: bucket,
        exemplar: null,
      });
    });
    out.push(
      {
        labels: { le: "+Inf" },
        sharedLabels: child.labels,
        value: child.count,
        metricName: bucket,
        exemplar: null,
      },
      { labels: {}, sharedLabels: child.labels, value: child.sum, metricName: `${this.name}_sum` },
      {
        labels: {},
        sharedLabels: child.labels,
        value: child.count,
        metricName: `${this.name}_count`,
      },
    );
    return out;
  }

  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }
}
