/**
 * The 50-node churn run (issue 18): real daemons on loopback, most of them strangers that only follow the rounds
 * (light and serving nodes), the members training on `tiny` and holding storage. After every certified round 10% of
 * the live nodes leave and as many join (after the first, the next round's leader among them as soon as it announced);
 * after the third, 20% are killed at once. Prints the seconds per round,
 * rounds per hour, how many live nodes hold the same checkpoint for the last round watched (fewer than all fails the run), and the daemons' resident memory, beside the same
 * rounds without churn measured first in this run (the reference: what rounds cost here when nobody leaves).
 *
 * Env: MAGNET_BENCH_NODES (50), MAGNET_BENCH_TRAINERS (5), MAGNET_BENCH_STORAGE (5), MAGNET_BENCH_SERVERS (2),
 * MAGNET_BENCH_ROUNDS (6), MAGNET_BENCH_CHURN (0.1), MAGNET_BENCH_KILL (0.2), MAGNET_BENCH_STEPS (20),
 * MAGNET_BENCH_REFERENCE (1: measure the no-churn reference first; 0 skips it).
 */
import { type ChurnReport, runChurn } from '../helpers/churn.js';

export async function run(): Promise<void> {
  const env = (k: string, d: number) => Number(process.env[`MAGNET_BENCH_${k}`] ?? d);
  const nodes = env('NODES', 50);
  const counts = { trainer: env('TRAINERS', 5), storage: env('STORAGE', 5), server: env('SERVERS', 2), light: 0 };
  counts.light = nodes - counts.trainer - counts.storage - counts.server;
  const diloco = {
    preset: 'tiny',
    innerSteps: env('STEPS', 20),
    batch: 4,
    seq: 64,
    innerLr: 2e-3,
    warmup: 0,
    verifyWindows: 2,
    startDelaySec: 20,
    roundTimeoutSec: 900,
    announceGraceSec: 30,
    threads: 1,
  };
  const rounds = env('ROUNDS', 6);
  const log = (line: string) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${line}`);
  const base = { counts, rounds, diloco, timeoutMs: 3 * 3600_000, seed: 18, log };
  const show = (name: string, r: ChurnReport) => {
    const mean = r.roundSeconds.reduce((a, b) => a + b, 0) / r.roundSeconds.length;
    console.log(
      `${name}: ${r.nodes} daemons (started in ${r.startSeconds.toFixed(0)} s); ${r.rounds} rounds, ${mean.toFixed(0)} s per round ` +
        `(${r.roundSeconds.map((s) => s.toFixed(0)).join(', ')}), ${r.roundsPerHour.toFixed(1)} rounds/hour; ` +
        `left ${r.left}, joined ${r.joined}, killed ${r.killed}; at the end ${r.onLatest} of ${r.live} live nodes hold the same round-${r.latestRound} checkpoint; ` +
        `daemon RSS mean ${r.rssMeanMiB.toFixed(0)} MiB, max ${r.rssMaxMiB.toFixed(0)} MiB; leaders that stepped down ${r.stepDowns}`,
    );
    return mean;
  };
  let reference: number | undefined;
  if (env('REFERENCE', 1) === 1) {
    console.log('reference: the same network, nobody leaves');
    reference = show('no churn', await runChurn({ ...base, rounds: Math.min(rounds, 3), churn: 0, killAfter: 0, killShare: 0 }));
  }
  console.log(
    `churn: ${env('CHURN', 0.1) * 100}% leave and join after every round, ${env('KILL', 0.2) * 100}% killed at once after the third`,
  );
  const report = await runChurn({
    ...base,
    churn: env('CHURN', 0.1),
    leaderLeaves: true,
    killAfter: Math.min(3, rounds),
    killShare: env('KILL', 0.2),
  });
  const churned = show('churn', report);
  if (reference !== undefined) console.log(`  seconds per round, churn / no churn: ${(churned / reference).toFixed(2)}x`);
  // The run's point is one `latest` under churn: a live node on another checkpoint, or never reaching the last round
  // watched within the driver's wait, fails the benchmark.
  if (report.onLatest < report.live)
    throw new Error(`only ${report.onLatest} of ${report.live} live nodes hold the round-${report.latestRound} checkpoint`);
}
