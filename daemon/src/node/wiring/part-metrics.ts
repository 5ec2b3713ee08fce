import type { Metrics } from '../../metrics/metrics.js';
import { serveGauges } from '../../serve/serve-metrics.js';

/** What the serve and chain parts show in /status, read at scrape time (neither part keeps metrics of its own). */
interface Sources {
  serve: { status(): Record<string, unknown> };
  chain: { status(): Record<string, unknown> };
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Gauges of the serving queue and model, and of the contribution claims, for the Grafana board. */
export function partMetrics(m: Metrics, s: Sources): void {
  serveGauges(m, () => s.serve.status());
  m.sampled('chain_contributions', 'Contributions recorded by this node (accepted gradients)', [], () =>
    num(s.chain.status()['contributions']),
  );
  m.sampled('chain_claims', 'Contribution claims by state', ['state'], () =>
    Object.entries((s.chain.status()['claims'] ?? {}) as Record<string, number>).map(([state, value]) => ({ labels: { state }, value })),
  );
}
