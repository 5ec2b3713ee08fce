import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry for the node. Every metric name starts with `magnet_`; process metrics included.
 * Parts define their metrics in one factory each, through these helpers.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'magnet_' });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name: `magnet_${name}`, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name: `magnet_${name}`, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return new Histogram({ name: `magnet_${name}`, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }

  /**
   * A gauge read at scrape time from `read` (a number, or one value per label set): for state a part already
   * keeps, so it is never copied into a second place that could drift.
   */
  sampled<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    read: () => number | { labels: Record<L, string>; value: number }[],
  ): Gauge<L> {
    return new Gauge({
      name: `magnet_${name}`,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        const v = read();
        this.reset();
        if (typeof v === 'number') (this as Gauge<string>).set(v);
        else for (const x of v) this.set(x.labels as Partial<Record<L, string>>, x.value);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
