import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { type DilocoOptions, TrainerJobs } from '../../daemon/src/diloco/trainer-jobs.js';
import { testDilocoOptions } from '../helpers/coordinators.js';
import { type RunningDaemon, membersArgs, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * Three real daemons (separate processes, signed gRPC over pinned TLS, the real trainer subprocess, erasure-coded
 * storage on their peers) run three DiLoCo rounds from `magnet-node start`: every node ends on the same merged
 * checkpoint, each round merged all three gradients, the merged model's held-out loss is below round 0's, the
 * merged model is exported to GGUF and hot-swapped into the native server, and a serving-only node that joins
 * afterwards catches up to the latest checkpoint and answers completions with it.
 */
const diloco = {
  preset: 'tiny',
  innerSteps: 8,
  batch: 4,
  seq: 64,
  innerLr: 2e-3,
  warmup: 0,
  verifyWindows: 2,
  startDelaySec: 10,
  roundTimeoutSec: 600,
  announceGraceSec: 20,
  threads: 1,
  maxRounds: 3,
};
const configFile = join(tempHome('magnet-diloco-cfg-'), 'config.json');
writeFileSync(configFile, JSON.stringify({ diloco, net: { heartbeatSeconds: 1, staleSeconds: 8 } }));
const env = testEnv({ MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true' });

interface Status {
  nodeId: string;
  roles: string[];
  listen: { p2p: string[] };
  diloco: {
    round: number;
    state: string;
    latest: { sha256: string; round: number; manifestId: string | null } | null;
    lastTrain: { round: number; lossFirst: number; lossLast: number } | null;
    phaseSeconds: Record<string, number>;
    lastError: string | null;
  };
}

const daemons: RunningDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.kill();
});

/** Sum of the samples of a labelled metric whose labels include `label`. */
async function metricSum(d: RunningDaemon, prefix: string, label: string): Promise<number> {
  const text = await (await d.fetch(`/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix) && l.includes(label))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

const accepted = (d: RunningDaemon) => metricSum(d, 'magnet_diloco_gradients_total{', 'verdict="accepted"');

test(
  'three daemons run three DiLoCo rounds over gRPC: same merged checkpoint everywhere, loss falls, a late serving node catches up',
  { timeout: 1_200_000 },
  async () => {
    // The three trainers are the network's members (their wallets are made first, so they can be listed).
    const homes = await prepareHomes(3);
    const args = ['--config', configFile, ...membersArgs(homes)]; // the SSD test runs (thresholds 0): a node that skips it is mobile_light, which never trains
    const d1 = await startDaemon({ home: homes[0]!.home, env, args });
    daemons.push(d1);
    const boot = (await d1.get<Status>('/status')).listen.p2p[0] as string;
    daemons.push(
      ...(await Promise.all([
        startDaemon({ home: homes[1]!.home, env, args: [...args, '--bootstrap', boot] }),
        startDaemon({ home: homes[2]!.home, env, args: [...args, '--bootstrap', boot] }),
      ])),
    );
    for (const d of daemons) assert.ok((await d.get<Status>('/status')).roles.includes('trainer'), 'every test node has the trainer role');

    const genesis = await waitFor(
      async () => (await d1.get<Status>('/status')).diloco.latest?.sha256,
      120_000,
      'the round-0 base checkpoint',
    );
    const statuses = await waitFor(
      async () => {
        const all = await Promise.all(daemons.map((d) => d.get<Status>('/status')));
        return all.every((s) => (s.diloco.latest?.round ?? -1) >= 2) && all;
      },
      1_100_000,
      'three merged rounds on every node',
    );
    const latest = statuses.map((s) => s.diloco.latest);
    assert.equal(new Set(latest.map((l) => l?.sha256)).size, 1, `same latest everywhere: ${JSON.stringify(latest)}`);
    assert.equal(latest[0]?.round, 2);
    assert.ok(latest[0]?.manifestId, 'the merged checkpoint was stored in shared storage');
    for (const s of statuses) assert.ok(s.diloco.lastTrain && s.diloco.lastTrain.round === 2, `${s.nodeId} trained round 2`);

    // Each leader judged and accepted all three gradients of its round: 3 rounds x 3 nodes.
    const acceptedTotal = (await Promise.all(daemons.map(accepted))).reduce((a, b) => a + b, 0);
    assert.equal(acceptedTotal, 9, 'accepted gradients over three rounds');

    const leaderPhases = statuses.map((s) => s.diloco.phaseSeconds).find((p) => p['round'] !== undefined);
    assert.ok(
      leaderPhases && leaderPhases['train'] !== undefined && leaderPhases['merge'] !== undefined,
      `phase timings: ${JSON.stringify(statuses.map((s) => s.diloco.phaseSeconds))}`,
    );
    console.log(`# round phases (s), leader of the last round: ${JSON.stringify(leaderPhases)}`);

    // Traffic: data-plane bytes (gradient pushes, storage shards, checkpoint fetches; each transfer counted once, by
    // the serving side: PutBlob in, GetBlob out) against what
    // synchronous data parallelism would send for the same steps: a ring all-reduce of fp32 gradients every step,
    // 2(n-1)/n of the gradient per node per step. The gradient size is the checkpoint's, measured here.
    const sent = await Promise.all(daemons.map(async (d) => metricSum(d, 'magnet_net_blob_bytes_total{', 'direction=')));
    const gradBytes = statSync(join(d1.home, 'diloco', 'checkpoints', `${latest[0]?.sha256}.safetensors`)).size;
    const perNodePerRound = sent.reduce((a, b) => a + b, 0) / daemons.length / 3;
    const syncDp = diloco.innerSteps * 2 * ((daemons.length - 1) / daemons.length) * gradBytes;
    console.log(
      `# data-plane bytes per node per round: ${(perNodePerRound / 1e6).toFixed(2)} MB (all data-plane traffic, storage included); sync DP reference for H=${diloco.innerSteps}: ${(syncDp / 1e6).toFixed(2)} MB; ratio sync/diloco ${(syncDp / perNodePerRound).toFixed(2)}x`,
    );
    assert.ok(perNodePerRound > 0, 'gradients and checkpoints travelled over the data plane');

    // Retention: a node's own gradients of rounds before the settled one (round 2) are deleted: at most the settled
    // round's and the next one's stay (without pruning, rounds 0 and 1 would be there too).
    for (const d of daemons) {
      const dir = join(d.home, 'diloco', 'gradients');
      const files = () => readdirSync(dir).filter((f) => f.endsWith('.safetensors') && !f.includes('.tmp'));
      await waitFor(
        async () => files().length <= 2,
        30_000,
        `${dir} to keep the gradients of unsettled rounds only: ${files().join(', ')}`,
      );
    }

    const jobs = new TrainerJobs(testDilocoOptions(diloco as Partial<DilocoOptions>), pino({ level: 'silent' }), process.env, {
      index: 0,
      count: 1,
    });
    const ckpt = (sha: string) => join(d1.home, 'diloco', 'checkpoints', `${sha}.safetensors`);
    const before = await jobs.heldOutLoss(ckpt(genesis), 8);
    const afterLoss = await jobs.heldOutLoss(ckpt(latest[0]?.sha256 as string), 8);
    console.log(`# held-out loss: round 0 base ${before.toFixed(4)} -> after 3 rounds ${afterLoss.toFixed(4)}`);
    assert.ok(afterLoss < before, `held-out loss after three rounds (${afterLoss}) is below the base's (${before})`);

    // The serving hook: a trainer that also serves exported the merged model to GGUF and swapped it in.
    const swapped = async (d: RunningDaemon, round: number) =>
      waitFor(
        async () => {
          const st = await d.get<{
            serve: { serving: boolean; lastSwap: { round: number } | null; lastSwapError: { error: string } | null };
          }>('/status');
          assert.equal(st.serve.lastSwapError, null, 'no failed model swap');
          return st.serve.lastSwap?.round === round && st.serve;
        },
        120_000,
        `the round-${round} model to be served`,
      );
    assert.ok((await swapped(d1, 2)).serving);

    // Joining mid-run: a serving-only node (no trainer role, and no member: it only reads public data) started after
    // the rounds follows the certified lineage from the members, fetches the latest checkpoint, exports it and
    // answers completions with it.
    const d4 = await startDaemon({ env, args: [...args, '--role', 'server', '--bootstrap', boot] });
    daemons.push(d4);
    await waitFor(
      async () => (await d4.get<Status>('/status')).diloco.latest?.sha256 === latest[0]?.sha256,
      120_000,
      'the late node to catch up to the latest checkpoint',
    );
    await swapped(d4, 2);
    const model = ((await (await fetch(`${d4.apiUrl}/v1/models`)).json()) as { data: { id: string }[] }).data[0]?.id as string;
    const res = await fetch(`${d4.apiUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'def ', max_tokens: 8, temperature: 0 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { choices: { text: string }[]; usage: { completion_tokens: number } };
    assert.ok(body.usage.completion_tokens > 0, `the merged model generated tokens: ${JSON.stringify(body)}`);

    for (const d of daemons) assert.equal(await d.stop(), 0);
  },
);
