/**
 * DiLoCo rounds on a local process testnet: wall time per round split into phases, the share of a round that is
 * not training, and data-plane bytes sent per node per round against what synchronous data-parallel training would
 * send for the same steps (a ring all-reduce of fp32 gradients every step: 2(n-1)/n of the gradient per node),
 * with the gradient size measured in the same run.
 *
 * Env: MAGNET_BENCH_PRESET (tiny), MAGNET_BENCH_H (100), MAGNET_BENCH_NODES (3), MAGNET_BENCH_ROUNDS (= nodes, so
 * every node leads one round and reports its phases), MAGNET_DILOCO_SCHEDULE (plain or delayed: the daemons read it).
 */
import { adminFetch } from '../../daemon/src/api/daemon-endpoint.js';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchTestnet } from '../../daemon/src/testnet/progress.js';
import { ProcessTestnet, type TestnetNode } from '../../daemon/src/testnet/testnet.js';

interface DilocoStatus {
  latest: { sha256: string; round: number } | null;
  phasesByRound: Record<string, Record<string, number>>;
}

/** Data-plane bytes the node sent (`out`) or received (`in`), from its own counters. */
async function blobBytes(node: TestnetNode, direction: 'in' | 'out'): Promise<number> {
  const text = await (await adminFetch(node.endpoint, '/metrics')).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('magnet_net_blob_bytes_total{') && l.includes(`direction="${direction}"`))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

export async function run(): Promise<void> {
  const preset = process.env['MAGNET_BENCH_PRESET'] ?? 'tiny';
  const H = Number(process.env['MAGNET_BENCH_H'] ?? 100);
  const nodes = Number(process.env['MAGNET_BENCH_NODES'] ?? 3);
  const rounds = Number(process.env['MAGNET_BENCH_ROUNDS'] ?? nodes);
  const schedule = process.env['MAGNET_DILOCO_SCHEDULE'] ?? 'plain';
  const dir = mkdtempSync(join(tmpdir(), 'magnet-bench-diloco-'));
  const net = new ProcessTestnet({ nodes, dir, preset, rounds, innerSteps: H, print: () => undefined });
  const t0 = Date.now();
  try {
    await net.start();
    const summary = await watchTestnet(net.nodes, rounds, () => undefined, AbortSignal.timeout(6 * 3600_000));
    const wall = (Date.now() - t0) / 1000;
    const statuses = await Promise.all(
      net.nodes.map(async (n) => ((await (await adminFetch(n.endpoint, `/status`)).json()) as { diloco: DilocoStatus }).diloco),
    );
    const sum = async (direction: 'in' | 'out') =>
      (await Promise.all(net.nodes.map((n) => blobBytes(n, direction)))).reduce((a, b) => a + b, 0);
    const sent = await sum('out');
    const received = await sum('in');
    const gradBytes = statSync(join(net.nodes[0]?.home as string, 'diloco', 'checkpoints', `${summary.finalHashes[0]}.safetensors`)).size;

    console.log(
      `preset ${preset}, ${nodes} nodes, H=${H}, ${rounds} rounds, ${wall.toFixed(0)} s wall; identical final checkpoint: ${new Set(summary.finalHashes).size === 1}`,
    );
    // Per round: the leader's round time, verification and merge; the slowest node's training (the critical path),
    // push (transfer) and fetch of the merge (distribute).
    console.log('round | round s | train (slowest node) | transfer | verify | merge | distribute | not training');
    const shares: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const per = statuses.map((s) => s.phasesByRound[String(r)] ?? {});
      const max = (k: string) => Math.max(0, ...per.map((p) => p[k] ?? 0));
      const total = max('round');
      if (total === 0) continue;
      const share = 1 - max('train') / total;
      shares.push(share);
      const f = (k: string) => max(k).toFixed(2);
      console.log(
        `${r} | ${f('round')} | ${f('train')} | ${f('transfer')} | ${f('verify')} | ${f('merge')} | ${f('distribute')} | ${(share * 100).toFixed(1)}%`,
      );
    }
    const mean = shares.reduce((a, b) => a + b, 0) / Math.max(1, shares.length);
    if (schedule === 'delayed')
      console.log("(delayed schedule: a round's training starts in the round before, so the column above does not apply)");
    else console.log(`non-training share of a round (mean over rounds): ${(mean * 100).toFixed(1)}% (goal <= 10% at H=100)`);
    // The trainer's own view, which also holds for the delayed schedule (its steps of round r run before r starts):
    // seconds its trainer ran jobs over the time between its round starts, rounds 1.. (round 0 has no period).
    const idle = statuses.map((s) => {
      const rs = Object.entries(s.phasesByRound).filter(([, p]) => p['period'] !== undefined && p['busy'] !== undefined);
      const train = rs.reduce((a, [, p]) => a + (p['busy'] ?? 0), 0);
      const period = rs.reduce((a, [, p]) => a + (p['period'] ?? 0), 0);
      return period > 0 ? 1 - train / period : NaN;
    });
    console.log(
      `schedule ${schedule}: trainer not training, share of the time between its round starts: ${idle.map((x) => `${(x * 100).toFixed(1)}%`).join(', ')} ` +
        `(mean ${((idle.reduce((a, b) => a + b, 0) / idle.length) * 100).toFixed(1)}%, goal <= 5% at H=100)`,
    );
    // Like for like: what a node sends. A ring all-reduce sends 2(n-1)/n of the gradient per node per step (and
    // receives as much); DiLoCo's sent bytes are every node's data-plane `out` counter, over nodes and rounds.
    const perNodeRound = sent / nodes / rounds;
    const syncDp = H * 2 * ((nodes - 1) / nodes) * gradBytes;
    console.log(
      `data-plane bytes sent per node per round: ${(perNodeRound / 1e6).toFixed(2)} MB (received ${(received / nodes / rounds / 1e6).toFixed(2)} MB); ` +
        `synchronous DP sends ${(syncDp / 1e6).toFixed(2)} MB per node for the same ${H} steps; ratio sync/diloco ${(syncDp / perNodeRound).toFixed(1)}x`,
    );
  } finally {
    await net.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
