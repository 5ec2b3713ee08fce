import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ADVERSARY, type RunningDaemon, membersArgs, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * The adversary suite. Four honest members run DiLoCo rounds on `tiny` among real daemons while a fifth member, a
 * real daemon with its own key run by the adversary tool (daemon/src/adversary, kind `mixed`), attacks them:
 * - as the leader of its rounds (it sorts first: rounds 0 and 5) it stays silent, then announces a year-3000
 *   deadline and equivocates (its real proposal to half the members, a forged merge to the others);
 * - as a follower it poisons its gradients (the update reversed, inside the norm bounds) or lies about tokens;
 * - it withholds the storage shards placed on it, and forges the certified lineage a late node catches up from;
 * - it sends more than 30 kinds of malformed or unauthorized messages, as a member and with throwaway keys, and
 *   says Hello from 300 throwaway identities at each of two members.
 * Each attack must be refused with a specific reason, logged with the sender and counted in a metric; the honest
 * nodes must keep certifying rounds, all end on the same `latest`, and no honest gradient or contribution is lost.
 */
const ROUNDS = 6;
/** Five daemons share two cores here: a round takes about a minute. */
const diloco = {
  preset: 'tiny',
  data: 'generated',
  innerSteps: 2,
  batch: 4,
  seq: 64,
  innerLr: 5e-4, // 1e-3 diverges at round 2 with H=2 (experiment diloco --H 2 --batch 4 --seq 64: held-out 7.9 after 4.0)
  warmup: 0,
  verifyWindows: 2,
  startDelaySec: 8,
  roundTimeoutSec: 180,
  announceGraceSec: 15,
  threads: 1,
  maxRounds: ROUNDS,
};

interface Status {
  nodeId: string;
  diloco: { round: number; latest: { sha256: string; round: number; manifestId: string | null } | null; equivocators: string[] };
  listen: { p2p: string[] };
}
interface Outcome {
  round: number;
  leader: string;
  merged: boolean;
  sha256: string;
  contributors: { nodeId: string; sha256: string }[];
}
interface ProbeLine {
  probe: string;
  target: string;
  expected?: string[];
  got?: string;
  ok?: boolean;
  counts?: Record<string, number>;
  /** The RPC flood: requests sent, in how many seconds, and the answers by label. */
  sent?: number;
  seconds?: number;
  answers?: Record<string, number>;
}

const running: RunningDaemon[] = [];
after(async () => {
  for (const d of running) await d.kill();
});

const metrics = async (d: RunningDaemon) => (await d.fetch(`/metrics`)).text();
/** The sum over honest nodes of the samples of `name` whose labels contain every `label`. */
const total = (texts: string[], name: string, ...labels: string[]) =>
  texts
    .flatMap((t) => t.split('\n'))
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((x) => l.includes(x)))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);

test(
  'a hostile member and its throwaway keys cannot hijack, halt or poison the rounds of four honest members',
  { timeout: 1_800_000 },
  async () => {
    const homes = (await prepareHomes(5, 'magnet-adv-')).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    const [hostile, ...honest] = homes as [(typeof homes)[0], ...(typeof homes)[0][]];
    const work = tempHome('magnet-adv-work-');
    const report = join(work, 'probes.jsonl');
    const config = join(work, 'config.json');
    writeFileSync(config, JSON.stringify({ diloco, net: { heartbeatSeconds: 1, staleSeconds: 10 } }));
    // Gradients archived too (diloco.storeGradients): every trainer then owns erasure-coded blobs with shards on the
    // withholding member, and its repair reads meet the withheld shards, as the checkpoint read below may not.
    const env = testEnv({ MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true', MAGNET_STORE_GRADIENTS: 'true' });
    const args = ['--config', config, ...membersArgs(homes)];

    const first = await startDaemon({ home: honest[0]!.home, env, args });
    running.push(first);
    const boot = (await first.get<Status>('/status')).listen.p2p[0] as string;
    const others = await Promise.all(honest.slice(1).map((h) => startDaemon({ home: h.home, env, args: [...args, '--bootstrap', boot] })));
    running.push(...others);
    const good = [first, ...others];
    const bad = await startDaemon({
      home: hostile.home,
      env,
      args: [...args, '--bootstrap', boot],
      entry: [ADVERSARY, '--kind', 'mixed', '--report', report],
    });
    running.push(bad);

    // The honest members certify every round, through the hostile node's three leadership turns.
    const t0 = Date.now();
    const statuses = await waitFor(
      async () => {
        const all = await Promise.all(good.map((d) => d.get<Status>('/status')));
        return all.every((s) => s.diloco.latest?.round === ROUNDS - 1) && all;
      },
      1_500_000,
      `the honest members to certify ${ROUNDS} rounds`,
    );
    console.log(`# ${ROUNDS} rounds certified among 4 honest members and 1 hostile one in ${Math.round((Date.now() - t0) / 1000)} s`);
    assert.equal(new Set(statuses.map((s) => s.diloco.latest?.sha256)).size, 1, 'every honest member ends on the same latest');

    // Everything below is checked and every problem reported at once (a run takes minutes).
    const problems: string[] = [];
    const check = (ok: boolean, what: string) => void (ok || problems.push(what));

    // Every certified outcome was led by an honest member and merged no hostile gradient; no honest gradient was
    // lost: each is merged, or its leader refused it for what it would do to the model (an honest but harmful update).
    const { outcomes } = await first.get<{ outcomes: Outcome[] }>(`/diloco/outcomes?after=-1&limit=64`);
    check(
      outcomes.map((o) => o.round).join() === Array.from({ length: ROUNDS }, (_, i) => i).join(),
      `certified rounds: ${outcomes.map((o) => o.round).join()}`,
    );
    let mergedHonest = 0;
    for (const o of outcomes) {
      check(o.leader !== hostile.nodeId, `round ${o.round} was certified under the hostile leader`);
      check(o.merged, `round ${o.round} was abandoned`);
      const merged = o.contributors.map((c) => c.nodeId);
      check(!merged.includes(hostile.nodeId), `round ${o.round} merged the hostile member's gradient`);
      const leader = good.find((_, i) => honest[i]!.nodeId === o.leader);
      if (!leader) continue;
      const { gradients } = await leader.get<{ gradients: { nodeId: string; status: string; reason: string | null }[] }>(
        `/diloco/gradients?round=${o.round}`,
      );
      for (const h of honest) {
        const v = gradients.find((g) => g.nodeId === h.nodeId);
        if (merged.includes(h.nodeId)) mergedHonest++;
        else
          check(
            !!v && v.status === 'refused' && /^(spot_check|grad_outlier)/.test(v.reason ?? ''),
            `round ${o.round}: the honest gradient of ${h.nodeId} was lost (${v?.status ?? 'never received'} ${v?.reason ?? ''})`,
          );
      }
      const { contributions } = await leader.get<{ contributions: { round: number; nodeId: string }[] }>('/chain/contributions');
      const recorded = contributions
        .filter((c) => c.round === o.round)
        .map((c) => c.nodeId)
        .sort()
        .join();
      check(recorded === [...merged].sort().join(), `round ${o.round}: its leader recorded ${recorded}, certified ${merged.join()}`);
    }
    console.log(`# honest gradients merged: ${mergedHonest} of ${honest.length * ROUNDS}`);
    check(mergedHonest >= honest.length * ROUNDS - 2, `only ${mergedHonest} honest gradients merged`);

    // A late reading node catches up through the certified lineage, refusing the hostile member's forgeries. It asks
    // every member at once (a node asks a random 4 by default, which would leave the hostile one out a fifth of the
    // time) and knows the hostile member from the start (its bootstrap list), so the forgery is always met.
    const readerConfig = join(work, 'reader.json');
    writeFileSync(
      readerConfig,
      JSON.stringify({ diloco: { ...diloco, catchUpFanout: 16 }, net: { heartbeatSeconds: 1, staleSeconds: 10 } }),
    );
    const badAddr = (await bad.get<Status>('/status')).listen.p2p[0] as string;
    const reader = await startDaemon({
      env,
      args: ['--config', readerConfig, ...membersArgs(homes), '--role', 'server', '--bootstrap', `${badAddr},${boot}`],
    });
    running.push(reader);
    await waitFor(
      async () => (await reader.get<Status>('/status')).diloco.latest?.sha256 === statuses[0]?.diloco.latest?.sha256,
      180_000,
      'the late reader to catch up',
    );

    // A storage read of the latest checkpoint rebuilds it without the shards the hostile member withholds.
    const latest = statuses[0]?.diloco.latest;
    check(!!latest?.manifestId, 'the latest checkpoint is in shared storage');
    const got = await first.fetch(`/storage/blobs/content?id=${latest?.manifestId}`);
    const rebuilt =
      got.status === 200
        ? createHash('sha256')
            .update(Buffer.from(await got.arrayBuffer()))
            .digest('hex')
        : '';
    check(got.status === 200 && rebuilt === latest?.sha256, `rebuilding the latest checkpoint from storage answered ${got.status}`);

    // The message-level attacks: every one refused with the reason expected (the public reads answered).
    const lines = existsSync(report)
      ? readFileSync(report, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as ProbeLine)
      : [];
    const probes = lines.filter((l) => l.expected);
    for (const l of probes.filter((x) => !x.ok)) problems.push(`probe "${l.probe}" got ${l.got}, expected ${l.expected?.join(' or ')}`);
    const kinds = new Set(probes.map((l) => l.probe));
    check(kinds.size >= 30, `${kinds.size} kinds of message-level attack in the report`);
    const floods = lines.filter((l) => l.counts);
    check(floods.length >= 2, `${floods.length} Hello floods (2 expected)`);
    for (const f of floods) {
      // Idle flood identities make room for newer ones over time (eviction after the 10 s stale time), so the
      // slower the machine sends the 300 Hellos, the more get a seat for a while (53 on a loaded 2-core run): most
      // must still be refused, and the table must hold 8 non-members per range (checked below).
      const refused = (f.counts?.['ip_range_full'] ?? 0) + (f.counts?.['peer_table_full'] ?? 0);
      check(refused >= 150, `the flood at ${f.target}: ${JSON.stringify(f.counts)}`);
      const target = good.find((_, i) => honest[i]!.nodeId === f.target);
      const peers = target ? (await target.get<{ net: { peers: { member: boolean }[] } }>('/status')).net.peers : [];
      check(
        peers.filter((p) => !p.member).length <= 8,
        `${f.target} seats ${peers.filter((p) => !p.member).length} non-members (8 per IP range)`,
      );
    }

    // 1000 signed requests a second from the hostile key at one member: that key is limited before any signature
    // check, and no honest member's call is limited anywhere (the rounds above went on meanwhile).
    const rpc = lines.find((l) => l.probe === 'rpc flood');
    check(!!rpc, 'the RPC flood ran');
    if (rpc) {
      const limited = rpc.answers?.['rate_limited'] ?? 0;
      check(
        limited >= 0.8 * (rpc.sent ?? 0),
        `the RPC flood at ${rpc.target}: ${rpc.sent} in ${rpc.seconds} s, ${JSON.stringify(rpc.answers)}`,
      );
      console.log(
        `# RPC flood at ${rpc.target}: ${rpc.sent} requests in ${rpc.seconds} s from the hostile key: ${JSON.stringify(rpc.answers)}`,
      );
    }
    for (const [i, d] of good.entries()) {
      const limitedHonest = d
        .output()
        .split('\n')
        .filter((l) => l.includes('"reason":"rate_limited"') && !l.includes(hostile.nodeId));
      check(limitedHonest.length === 0, `${honest[i]!.nodeId} rate-limited an honest member: ${limitedHonest[0]?.slice(0, 300)}`);
    }

    // The node-level attacks: each refusal counted by reason on the honest members, logged naming the sender.
    const texts = await Promise.all(good.map(metrics));
    const refusedRound = (reason: string, message?: string) =>
      total(texts, 'magnet_diloco_refused_total', `reason="${reason}"`, ...(message ? [`message="${message}"`] : []));
    const nodeAttacks: [string, number][] = [
      [
        'silent leader: given up on after the grace',
        total(texts, 'magnet_diloco_failovers_total', 'reason="no_announcement_within_the_grace"'),
      ],
      ['year-3000 deadline: capped', refusedRound('deadline_capped', 'announcement')],
      ['equivocating leader: caught', total(texts, 'magnet_diloco_equivocations_total')],
      ['equivocating leader: its forged merge refused', refusedRound('merge_mismatch')],
      ['poisoned gradient: refused by the spot check', refusedRound('spot_check', 'gradient')],
      ['lying about tokens: refused', refusedRound('tokens_mismatch', 'gradient')],
      ['withheld shards: noticed', total(texts, 'magnet_storage_shard_fetch_refused_total', 'reason="withheld"')],
      // A deposing answer moves no leader: 1 of the 4 other trainers, short of two thirds.
      ['deposing answers: told to leaders', bad.output().split('deposing: told the leader we gave up on it').length - 1],
      ['forged lineage: refused by the late reader', total([await metrics(reader)], 'magnet_diloco_refused_total', 'message="lineage"')],
    ];
    for (const [name, n] of nodeAttacks) check(n >= 1, `${name}: count ${n}`);
    const deposed = total(texts, 'magnet_diloco_failovers_total', 'reason="the_other_live_trainers_gave_up_on_it"');
    check(deposed === 0, `honest leaders stepped down ${deposed} times on one hostile trainer's word`);
    const logs = good.map((d) => d.output()).join('\n');
    check(logs.includes(`from ${hostile.nodeId}`), 'refusals are logged naming the hostile member');
    check((await first.get<Status>('/status')).diloco.equivocators.includes(hostile.nodeId), 'the equivocator is known by name');
    const attackKinds = kinds.size + nodeAttacks.length + 1; // + the Hello flood
    console.log(
      `# attack kinds refused: ${attackKinds} (${kinds.size} message-level, ${nodeAttacks.length} by the hostile node, the Hello flood)`,
    );
    assert.deepEqual(problems, [], 'every attack refused, every honest round certified');

    for (const d of [...good, reader]) assert.equal(await d.stop(), 0);
  },
);
