/**
 * What a hostile member costs the network, on two process testnets of the same size, preset and H measured in one
 * run: N honest nodes, then N nodes of which the last is the adversary tool (`mixed`: silent in its first turn as
 * leader, equivocating under a year-3000 deadline in the next, probing and poisoning throughout). Prints rounds per
 * hour of each and their ratio, the share of a round the members spend recomputing and scoring the merge before
 * they vote (verify_merge), and, for rounds whose expected leader was given up on, the time from the previous
 * certificate to the round's own against the median honest round.
 *
 * Env: MAGNET_BENCH_PRESET (tiny), MAGNET_BENCH_H (20), MAGNET_BENCH_NODES (4), MAGNET_BENCH_ROUNDS (6).
 */
import { adminFetch } from '../../daemon/src/api/daemon-endpoint.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { watchTestnet } from '../../daemon/src/testnet/progress.js';
import { ProcessTestnet, type TestnetNode } from '../../daemon/src/testnet/testnet.js';

interface RunFigures {
  rounds: number;
  seconds: number;
  perHour: number;
  verifyShare: number;
  /** Rounds whose expected leader was given up on: seconds from the previous certificate, and why. */
  failovers: { round: number; seconds: number; reason: string }[];
  medianRound: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? ((s[Math.floor((s.length - 1) / 2)] as number) + (s[Math.ceil((s.length - 1) / 2)] as number)) / 2 : NaN;
};

/** Reads what the first honest node recorded: when each round was certified and which leaders it gave up on. */
function timeline(node: TestnetNode): { certifiedAt: Map<number, number>; startedAt: number; failed: Map<number, string> } {
  const db = new Database(join(node.home, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    const certifiedAt = new Map(
      (db.prepare('SELECT round, certified_at AS at FROM round_certificates').all() as { round: number; at: number }[]).map((r) => [
        r.round,
        r.at,
      ]),
    );
    const first = db.prepare('SELECT MIN(created_at) AS at FROM rounds').get() as { at: number };
    const failed = new Map(
      (db.prepare('SELECT round, reason FROM round_failed_leaders').all() as { round: number; reason: string }[]).map((r) => [
        r.round,
        r.reason,
      ]),
    );
    return { certifiedAt, startedAt: first.at, failed };
  } finally {
    db.close();
  }
}

async function verifyShare(nodes: TestnetNode[]): Promise<number> {
  // Per node, from its diloco_phase_seconds sums: seconds recomputing merges over seconds of rounds it saw end.
  const shares = await Promise.all(
    nodes.map(async (n) => {
      const text = await (await adminFetch(n.endpoint, `/metrics`)).text();
      const sum = (phase: string) =>
        Number(new RegExp(`magnet_diloco_phase_seconds_sum\\{phase="${phase}"\\} ([0-9.e+-]+)`).exec(text)?.[1] ?? 0);
      const rounds = sum('round') + sum('elapsed');
      return rounds > 0 ? sum('verify_merge') / rounds : NaN;
    }),
  );
  return median(shares.filter((s) => Number.isFinite(s)));
}

async function runOnce(o: { nodes: number; rounds: number; H: number; preset: string; adversary?: string }): Promise<RunFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-bench-adv-'));
  const net = new ProcessTestnet({
    nodes: o.nodes,
    dir,
    preset: o.preset,
    rounds: o.rounds,
    innerSteps: o.H,
    // the testnet's settings with an adversary, for both runs: one grace and one capped deadline for everyone
    env: { MAGNET_ROUND_TIMEOUT: '300', MAGNET_ANNOUNCE_GRACE: '15' },
    ...(o.adversary ? { adversary: o.adversary } : {}),
    print: () => undefined,
  });
  try {
    await net.start();
    const honest = net.nodes.filter((n) => !n.hostile);
    const summary = await watchTestnet(honest, o.rounds, () => undefined, AbortSignal.timeout(3 * 3600_000));
    if (new Set(summary.finalHashes).size !== 1)
      throw new Error(`honest nodes ended on different checkpoints: ${summary.finalHashes.join(' ')}`);
    const t = timeline(honest[0] as TestnetNode);
    const ends = [...t.certifiedAt.entries()].sort((a, b) => a[0] - b[0]);
    const last = (ends.at(-1) as [number, number])[1];
    const seconds = (last - t.startedAt) / 1000;
    const durations = ends.slice(1).map(([r, at], i) => ({ round: r, seconds: (at - (ends[i] as [number, number])[1]) / 1000 }));
    return {
      rounds: ends.length,
      seconds,
      perHour: (ends.length / seconds) * 3600,
      verifyShare: await verifyShare(honest),
      failovers: durations.filter((d) => t.failed.has(d.round)).map((d) => ({ ...d, reason: t.failed.get(d.round) as string })),
      medianRound: median(durations.filter((d) => !t.failed.has(d.round)).map((d) => d.seconds)),
    };
  } finally {
    await net.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const preset = process.env['MAGNET_BENCH_PRESET'] ?? 'tiny';
  const H = Number(process.env['MAGNET_BENCH_H'] ?? 20);
  const nodes = Number(process.env['MAGNET_BENCH_NODES'] ?? 4);
  const rounds = Number(process.env['MAGNET_BENCH_ROUNDS'] ?? 6);
  const honest = await runOnce({ nodes, rounds, H, preset });
  const hostile = await runOnce({ nodes, rounds, H, preset, adversary: 'mixed' });
  const line = (name: string, f: RunFigures) =>
    `${name}: ${f.rounds} rounds in ${f.seconds.toFixed(0)} s = ${f.perHour.toFixed(1)} rounds/hour; median round ${f.medianRound.toFixed(1)} s; merge verification ${(f.verifyShare * 100).toFixed(1)}% of a round`;
  console.log(`preset ${preset}, ${nodes} nodes, H=${H}, ${rounds} rounds, announce grace 15 s, deadline cap 300 s`);
  console.log(line('0 hostile', honest));
  console.log(line(`1 hostile (mixed, node ${nodes})`, hostile));
  console.log(`rounds/hour with one hostile member / without: ${(hostile.perHour / honest.perHour).toFixed(2)}`);
  for (const f of hostile.failovers)
    console.log(
      `round ${f.round}: its expected leader given up on (${f.reason}); certified ${f.seconds.toFixed(1)} s after the previous round (${(f.seconds / hostile.medianRound).toFixed(1)}x the median round)`,
    );
}
