/**
 * Autoresearch throughput: one research plan (MAGNET_BENCH_PLAN, default the built-in genkidama-tiny) run to its end
 * on a testnet of 1 and of 3 trainer daemons on this machine (MAGNET_BENCH_NODES, default "1,3"). Prints per run the
 * phase table, the best config's improvement over the base on the held-out test set, trials per hour, the share of
 * remote results the research node re-scored and what the re-scores cost; then the trials-per-hour ratio of each
 * testnet to the first (the reference, measured in the same run). Each trial uses one torch thread, so trials on
 * several daemons do not oversubscribe the cores. MAGNET_BENCH_OUT=DIR also writes the first run's
 * `research report` (report.md, report.json, plot.png) there.
 *   node dist/test/bench/run.js research-trials
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, type RunningDaemon, membersArgs, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

const exec = promisify(execFile);

interface Status {
  run: { state: string; stopReason: string | null } | null;
  rescores: { count: number; seconds: number; refused: number };
}
interface Report {
  runId: string;
  phases: {
    name: string;
    configs: number;
    steps: number | null;
    best_eval_loss: number | null;
    winner: Record<string, unknown> | null;
    trials: { worker: string; seconds: number | null; note: string | null }[];
  }[];
  best: { change: Record<string, unknown> };
  result: { testImprovement: number | null; base: { testLoss: number } | null; winner: { testLoss: number } | null } | null;
}

async function once(nodes: number, plan: string, out?: string): Promise<{ trialsPerHour: number }> {
  const homes = await prepareHomes(nodes, 'magnet-bench-research-');
  const dir = tempHome('magnet-bench-research-cfg-');
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ net: { heartbeatSeconds: 2, staleSeconds: 20 }, research: { tickSeconds: 1, trialThreads: 1 } }));
  const env = testEnv({ MAGNET_CPU_TRAINING: 'true' });
  const daemons: RunningDaemon[] = [];
  try {
    for (const h of homes) {
      const boot = daemons[0] ? ((await daemons[0].get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string) : undefined;
      daemons.push(
        await startDaemon({ home: h.home, env, args: ['--config', config, ...membersArgs(homes), ...(boot ? ['--bootstrap', boot] : [])] }),
      );
    }
    const lead = daemons[0] as RunningDaemon;
    const live = async () =>
      (await lead.get<{ net: { peers: { state: string }[] } }>('/status')).net.peers.filter((p) => p.state === 'live').length;
    await waitFor(async () => (await live()) >= nodes - 1, 60_000, 'the research node to see every peer');
    const t0 = Date.now();
    await exec(process.execPath, [CLI, 'research', 'start', '--home', lead.home, '--builtin', plan]);
    const status = await waitFor(
      async () => {
        const s = await lead.get<Status>('/research/status');
        return s.run?.state === 'done' ? s : undefined;
      },
      4 * 3_600_000,
      'the plan to finish',
    );
    const wall = (Date.now() - t0) / 1000;
    const report = await lead.get<Report>('/research/report');
    const trials = report.phases.flatMap((p) => p.trials).filter((t) => !(t.note ?? '').startsWith('reused'));
    const remote = trials.filter((t) => t.worker !== homes[0]?.nodeId).length;
    const trainSeconds = trials.reduce((s, t) => s + (t.seconds ?? 0), 0);
    const perHour = (trials.length / wall) * 3600;
    console.log(
      `\n${nodes} trainer node(s), plan ${plan}: ${status.run?.stopReason}; ${trials.length} trials in ${wall.toFixed(0)} s = ${perHour.toFixed(1)} trials/hour`,
    );
    console.log('phase                          configs  steps  best eval  winner (vs base)');
    for (const p of report.phases)
      console.log(
        `${p.name.padEnd(30)} ${String(p.configs).padStart(7)} ${String(p.steps ?? '-').padStart(6)} ${p.best_eval_loss?.toFixed(4) ?? '-'}  ${JSON.stringify(p.winner)}`,
      );
    const r = report.result;
    console.log(
      `best ${JSON.stringify(report.best.change)}; held-out test loss base ${r?.base?.testLoss?.toFixed(4)} -> best ${r?.winner?.testLoss?.toFixed(4)} (${r?.testImprovement === null || r?.testImprovement === undefined ? '-' : `${(r.testImprovement * 100).toFixed(2)}% lower`})`,
    );
    console.log(
      `re-scored ${status.rescores.count} of ${remote} remote results (${remote ? ((100 * status.rescores.count) / remote).toFixed(0) : 0}%), ${status.rescores.seconds.toFixed(1)} s of the research node's trainer = ${trainSeconds ? ((100 * status.rescores.seconds) / trainSeconds).toFixed(1) : 0}% of the trials' own seconds; refused workers ${status.rescores.refused}`,
    );
    if (out) await exec(process.execPath, [CLI, 'research', 'report', '--home', lead.home, '--out', out]);
    return { trialsPerHour: perHour };
  } finally {
    for (const d of daemons) await d.stop();
  }
}

export async function run(): Promise<void> {
  const plan = process.env['MAGNET_BENCH_PLAN'] ?? 'genkidama-tiny';
  const sizes = (process.env['MAGNET_BENCH_NODES'] ?? '1,3').split(',').map(Number);
  const results: { nodes: number; trialsPerHour: number }[] = [];
  for (const [i, n] of sizes.entries()) {
    const out = i === 0 ? process.env['MAGNET_BENCH_OUT'] : undefined;
    results.push({ nodes: n, ...(await once(n, plan, out)) });
  }
  const ref = results[0] as { nodes: number; trialsPerHour: number };
  for (const r of results.slice(1))
    console.log(
      `trials/hour with ${r.nodes} nodes vs ${ref.nodes}: ${(r.trialsPerHour / ref.trialsPerHour).toFixed(2)}x (this machine: 2 cores shared by every daemon)`,
    );
}
