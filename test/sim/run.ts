/**
 * The round simulation (daemon/src/sim): real round coordinators over a simulated network and clock, one run per
 * node count, printed as one table.
 *
 *   node dist/test/sim/run.js --nodes 10,100,1000 --rounds 3 --loss 0.01 --hostile 0.02 --churn 0.05
 *
 * Flags (defaults in SIM_DEFAULTS): --nodes LIST, --members N (registered members; the rest follow outcomes),
 * --voters N (members that do not train, only vote),
 * --rounds N, --seed N, --hostile FRACTION, --hostile-kinds a,b, --churn FRACTION, --partition CHANCE,
 * --partition-sec S, --latency MS, --loss P, --blob-mb MB, --mbps N, --train-sec S, --spot-check-sec S,
 * --merge-sec S, --round-timeout S, --grace S, --max-sim-sec S. MAGNET_SIM_DIR: where node homes go (tmpdir).
 */
import { parseArgs } from 'node:util';
import type { HostileKind } from '../../daemon/src/sim/hostile.js';
import { formatReports, type SimReport } from '../../daemon/src/sim/sim-report.js';
import { SIM_DEFAULTS } from '../../daemon/src/sim/sim-options.js';
import { simulate } from '../../daemon/src/sim/simulation.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10,100' },
    members: { type: 'string', default: '0' },
    voters: { type: 'string', default: '0' },
    rounds: { type: 'string', default: String(SIM_DEFAULTS.rounds) },
    seed: { type: 'string', default: String(SIM_DEFAULTS.seed) },
    hostile: { type: 'string', default: String(SIM_DEFAULTS.hostile) },
    'hostile-kinds': { type: 'string' },
    churn: { type: 'string', default: String(SIM_DEFAULTS.churn) },
    partition: { type: 'string', default: String(SIM_DEFAULTS.partition) },
    'partition-sec': { type: 'string', default: String(SIM_DEFAULTS.partitionSec) },
    latency: { type: 'string', default: String(SIM_DEFAULTS.net.latencyMs) },
    loss: { type: 'string', default: String(SIM_DEFAULTS.net.loss) },
    'blob-mb': { type: 'string', default: String(SIM_DEFAULTS.net.blobBytes / 1e6) },
    mbps: { type: 'string', default: String(SIM_DEFAULTS.net.mbps) },
    'train-sec': { type: 'string', default: String(SIM_DEFAULTS.times.trainSec) },
    'spot-check-sec': { type: 'string', default: String(SIM_DEFAULTS.times.spotCheckSec) },
    'merge-sec': { type: 'string', default: String(SIM_DEFAULTS.times.mergeSec) },
    'round-timeout': { type: 'string', default: '900' },
    grace: { type: 'string', default: '30' },
    'max-sim-sec': { type: 'string', default: String(SIM_DEFAULTS.maxSimSec) },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);

const reports: SimReport[] = [];
for (const n of String(values.nodes).split(',').map(Number)) {
  const t0 = Date.now();
  const r = await simulate({
    nodes: n,
    members: num('members'),
    voters: num('voters'),
    rounds: num('rounds'),
    seed: num('seed'),
    hostile: num('hostile'),
    ...(values['hostile-kinds'] ? { hostileKinds: values['hostile-kinds'].split(',') as HostileKind[] } : {}),
    churn: num('churn'),
    partition: num('partition'),
    partitionSec: num('partition-sec'),
    net: { ...SIM_DEFAULTS.net, latencyMs: num('latency'), loss: num('loss'), blobBytes: num('blob-mb') * 1e6, mbps: num('mbps') },
    times: { ...SIM_DEFAULTS.times, trainSec: num('train-sec'), spotCheckSec: num('spot-check-sec'), mergeSec: num('merge-sec') },
    diloco: { roundTimeoutSec: num('round-timeout'), announceGraceSec: num('grace') },
    maxSimSec: num('max-sim-sec'),
  });
  reports.push(r);
  console.error(`${n} nodes: ${r.roundsCompleted}/${r.roundsAttempted} rounds in ${((Date.now() - t0) / 1000).toFixed(1)} s wall`);
}
console.log(formatReports(reports));
console.log(`\nsettings: ${JSON.stringify(values)}`);
