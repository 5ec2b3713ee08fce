import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Wallet } from 'ethers';
import {
  ADVERSARY,
  type RunningDaemon,
  membersArgs,
  prepareHomeWithKey,
  prepareHomes,
  startDaemon,
  tempHome,
  testEnv,
  waitFor,
} from '../helpers/daemon.js';

/**
 * Two colluding trainers against a member that does not train. Such a member gets no announcements, so it takes
 * the trainers' votes as a hint of who leads after a failover; here three trainers H < A < B (H leads round 0,
 * live but not training yet) and a storage member S are the members. A (the adversary tool, its own key) proposes
 * to abandon round 0 out of turn to S (no merge to recompute: a vote would follow at once), carrying its own vote and B's (A holds B's key; B runs as a plain daemon so
 * that S sees it live). Half of the other live trainers back it; two thirds do not. S must refuse it as
 * `not_expected_leader` and not vote for it. Then H and B die: S gives H up by itself (it stopped heartbeating), with
 * no trainer's word for it; A leads round 0 in S's view then, and only then gets its vote.
 */
const running: RunningDaemon[] = [];
after(async () => {
  for (const d of running) await d.kill();
});

interface Status {
  nodeId: string;
  diloco: { round: number; leader: string | null };
  listen: { p2p: string[] };
}

test(
  'two colluding trainers cannot win the vote of a member that does not train out of turn; it gives a dead leader up by itself',
  { timeout: 600_000 },
  async () => {
    const wallets = Array.from({ length: 3 }, () => Wallet.createRandom());
    const trainers = await Promise.all(wallets.map((w) => prepareHomeWithKey(w.privateKey, 'magnet-oot-')));
    const order = trainers.map((h, i) => ({ h, key: wallets[i]!.privateKey })).sort((a, b) => a.h.nodeId.localeCompare(b.h.nodeId));
    const [H, A, B] = order as [(typeof order)[0], (typeof order)[0], (typeof order)[0]];
    const [S] = await prepareHomes(1, 'magnet-oot-');
    const work = tempHome('magnet-oot-work-');
    const accompliceKey = join(work, 'accomplice.key');
    writeFileSync(accompliceKey, B.key, { mode: 0o600 });
    const diloco = { preset: 'tiny', innerSteps: 2, batch: 4, seq: 64, warmup: 0, verifyWindows: 2, announceGraceSec: 10, threads: 1 };
    const net = { heartbeatSeconds: 1, staleSeconds: 8 };
    // The trainers never start a round here (a start delay of an hour): H stays the live leader of round 0 that has
    // not proposed yet, the moment an out-of-turn proposal is made for.
    const trainerConfig = join(work, 'trainers.json');
    writeFileSync(trainerConfig, JSON.stringify({ diloco: { ...diloco, startDelaySec: 3600 }, net }));
    const storageConfig = join(work, 'storage.json');
    writeFileSync(storageConfig, JSON.stringify({ diloco: { ...diloco, startDelaySec: 2 }, net }));
    const env = testEnv({ MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true' });
    const members = membersArgs([H.h, A.h, B.h, S!]);
    const trainerArgs = (boot: string[]) => ['--config', trainerConfig, ...members, '--role', 'trainer', ...boot];

    const s = await startDaemon({ home: S!.home, env, args: ['--config', storageConfig, ...members, '--role', 'storage'] });
    running.push(s);
    const boot = ['--bootstrap', (await s.get<Status>('/status')).listen.p2p[0] as string];
    const [h, b] = await Promise.all([H, B].map((x) => startDaemon({ home: x.h.home, env, args: trainerArgs(boot) })));
    running.push(h!, b!);
    const a = await startDaemon({
      home: A.h.home,
      env,
      args: trainerArgs(boot),
      entry: [ADVERSARY, '--kind', 'out-of-turn', '--target', S!.nodeId, '--accomplice-key', accompliceKey],
    });
    running.push(a);

    // S keeps the proposal (it holds the genesis parent), then refuses to vote for it on its next tick.
    const refusal = `refused proposal from ${A.h.nodeId}: not_expected_leader`;
    const tail = (d: RunningDaemon) => d.output().trim().split('\n').slice(-15).join('\n');
    await waitFor(() => s.output().includes(refusal), 300_000, `S to refuse A's out-of-turn proposal (${refusal})`).catch((err: Error) => {
      throw new Error(`${err.message}\n--- S:\n${tail(s)}\n--- A:\n${tail(a)}`);
    });
    const st = await s.get<Status>('/status');
    assert.equal(st.diloco.round, 0);
    assert.equal(st.diloco.leader, H.h.nodeId, 'S still expects H to lead round 0');
    const sent = a
      .output()
      .split('\n')
      .filter((l) => l.includes('out-of-turn proposal sent') && l.includes('"got":"accepted"'));
    assert.ok(sent.length > 0 && sent[0]!.includes(B.h.nodeId), "A's proposal reached S with B's vote");
    const metrics = await (await s.fetch('/metrics')).text();
    assert.doesNotMatch(metrics, /magnet_diloco_votes_total\{result="voted"\} [1-9]/, 'S cast no vote');
    assert.match(metrics, /magnet_diloco_refused_total\{message="proposal",reason="not_expected_leader"\} [1-9]/);

    // H and B die: no trainer is left to back anyone, so only S's own judgement moves it. It stops hearing H's
    // heartbeats and gives H up by itself; A, the rotation's next trainer, leads round 0 in S's view then, and the
    // proposal S held back gets its vote now.
    await Promise.all([h!.kill(), b!.kill()]);
    const logged = (...parts: string[]) =>
      s
        .output()
        .split('\n')
        .some((l) => parts.every((p) => l.includes(p)));
    await waitFor(
      () => logged('gave up on the leader of this round', `"leader":"${H.h.nodeId}"`, 'the leader stopped heartbeating'),
      120_000,
      'S to give up on the dead leader H',
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- S:\n${tail(s)}`);
    });
    await waitFor(() => logged('voted for the proposed outcome', `"leader":"${A.h.nodeId}"`), 60_000, 'S to vote for A, now in turn');
  },
);
