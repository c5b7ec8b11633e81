/**
 * The request counter and duration histogram, recorded at the cost of two Map look-ups a request.
 * prom-client hashes and validates the label set on every inc() and observe(), about 1 µs a
 * request on the redirect path (bench figure 1); here each (route, method) has one record, and
 * prom-client gets the numbers only when the registry is read. The counter stays prom-client's
 * own (the counts are added in its collect hook); the histogram hands the registry the same
 * values prom-client's Histogram would, which test/http/request-metrics.test.ts checks against
 * it line for line.
 */
import { Counter, type Metric, type Registry } from 'prom-client';

type Labels = { route: string; method: string };

interface LabelSet {
  labels: Labels;
  /** Requests by status not yet added to the prom-client counter. */
  pending: Map<number, number>;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

export class RequestMetrics {
  private readonly sets = new Map<string, Map<string, LabelSet>>();
  private readonly bounds: number[];

  constructor(registry: Registry, o: { requests: { name: string; help: string }; duration: { name: string; help: string; buckets: number[] } }) {
    this.bounds = [...o.duration.buckets].sort((a, b) => a - b);
    const sets = () => this.labelSets();
    new Counter({
      name: o.requests.name,
      help: o.requests.help,
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
      collect() {
        for (const set of sets()) {
          for (const [status, n] of set.pending) this.inc({ ...set.labels, status }, n);
          set.pending.clear();
        }
      },
    });
    // the registry reads a metric through getForPromString()/get(); it needs no prom-client class
    registry.registerMetric(new DurationHistogram(o.duration.name, o.duration.help, this.bounds, sets) as unknown as Metric);
  }

  record(route: string, method: string, status: number, seconds: number): void {
    let byMethod = this.sets.get(route);
    if (!byMethod) this.sets.set(route, (byMethod = new Map<string, LabelSet>()));
    let set = byMethod.get(method);
    if (!set)
      byMethod.set(
        method,
        (set = { labels: { route, method }, pending: new Map(), buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 }),
      );
    set.pending.set(status, (set.pending.get(status) ?? 0) + 1);
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]) i++;
    set.buckets[i]++;
    set.sum += seconds;
    set.count++;
  }

  private labelSets(): LabelSet[] {
    return [...this.sets.values()].flatMap((byMethod) => [...byMethod.values()]);
  }
}

/** The registry's side of a histogram: what prom-client's Histogram.getForPromString() returns. */
class DurationHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
    private readonly sets: () => LabelSet[],
  ) {}

  getForPromString() {
    type Value = { labels: Record<string, string | number>; sharedLabels: Labels; value: number; metricName: string; exemplar?: null };
    const values: Value[] = [];
    for (const set of this.sets()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += set.buckets[i];
        values.push({ labels: { le }, sharedLabels: set.labels, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: set.labels, value: set.count, metricName: `${this.name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: set.labels, value: set.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: set.labels, value: set.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  get() {
    const data = this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } })) };
  }

  reset(): void {
    for (const set of this.sets()) {
      set.buckets.fill(0);
      set.sum = 0;
      set.count = 0;
    }
  }
}
