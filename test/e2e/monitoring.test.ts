import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../../daemon/src/version.js';
import { type RunningDaemon, startDaemon, testEnv } from '../helpers/daemon.js';

/**
 * config/monitoring: the Grafana board reads only metrics a running daemon exports (a renamed metric would leave a
 * panel empty without a word), and the Prometheus config scrapes the admin listener's /metrics with the admin token.
 */
const MONITORING = join(REPO_ROOT, 'config', 'monitoring');
let d: RunningDaemon | undefined;
after(async () => {
  await d?.kill();
});

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

test('every metric the Grafana board uses is exported by a running daemon', { timeout: 60_000 }, async () => {
  const board = JSON.parse(readFileSync(join(MONITORING, 'grafana-magnet-node.json'), 'utf8')) as {
    uid: string;
    panels: Panel[];
    templating: { list: { name: string; query: unknown }[] };
  };
  assert.equal(board.uid, 'magnet-node');
  const panels = board.panels.filter((p) => p.type !== 'row');
  assert.ok(panels.length >= 20, `${panels.length} panels`);
  const exprs = [
    ...panels.flatMap((p) => {
      assert.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has a query`);
      return p.targets.map((t) => t.expr);
    }),
    ...board.templating.list.map((v) => String(v.query)),
  ];
  // Histograms are queried through their _bucket series; their TYPE line names the histogram.
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bmagnet_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))));
  assert.ok(used.size >= 25, `${used.size} metrics used`);

  d = await startDaemon({ env: testEnv({ MAGNET_SSD_TEST: 'false' }) });
  const text = await (await d.fetch('/metrics')).text();
  const exported = new Set([...text.matchAll(/^# TYPE (magnet_[a-z0-9_]+) /gm)].map((m) => m[1] as string));
  const missing = [...used].filter((m) => !exported.has(m)).sort();
  assert.deepEqual(missing, [], `metrics the board uses that the daemon does not export: ${missing.join(', ')}`);
  // The sampled gauges answer with values, not only their TYPE line.
  assert.match(text, /^magnet_serve_model_round -1$/m);
  assert.match(text, /^magnet_chain_contributions 0$/m);
});

test('the Prometheus config scrapes /metrics with the admin token', () => {
  const yml = readFileSync(join(MONITORING, 'prometheus.yml'), 'utf8');
  assert.match(yml, /metrics_path: \/metrics/);
  assert.match(yml, /authorization:\s*\n\s*type: Bearer\s*\n\s*credentials_file: /);
  assert.match(yml, /targets: \['127\.0\.0\.1:7681'\]/, 'the default admin address');
});
