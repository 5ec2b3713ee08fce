import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type RunningDaemon, membersArgs, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * The delayed schedule with real daemons: each node trains the next round's steps ahead while its gradient is in
 * flight, and a round takes that progress. A trainer killed while it trains ahead comes back with its progress
 * dropped by rule (a plain round from the base, never applied late), and every node ends on the same checkpoint.
 */
const diloco = {
  preset: 'tiny',
  innerSteps: 6,
  batch: 4,
  seq: 64,
  innerLr: 2e-3,
  warmup: 0,
  verifyWindows: 2,
  startDelaySec: 8,
  roundTimeoutSec: 300,
  announceGraceSec: 20,
  threads: 1,
  maxRounds: 5,
  schedule: 'delayed',
};

interface Status {
  diloco: { latest: { sha256: string; round: number } | null };
}
interface Outcome {
  round: number;
  merged: boolean;
  sha256: string;
  contributors: { nodeId: string }[];
}

const running: RunningDaemon[] = [];
after(async () => {
  for (const d of running) await d.kill();
});

/** The 'local training done' lines a daemon printed: round and whether the gradient was progress trained ahead. */
function trainings(d: RunningDaemon): { round: number; ahead: boolean }[] {
  return d
    .output()
    .split('\n')
    .filter((l) => l.includes('local training done'))
    .map((l) => JSON.parse(l) as { round: number; ahead: boolean });
}

test(
  'delayed schedule: rounds take progress trained ahead; a trainer killed while training ahead restarts with it dropped, and all nodes end identical',
  { timeout: 900_000 },
  async () => {
    const homes = (await prepareHomes(3, 'magnet-delayed-')).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    const dir = tempHome('magnet-delayed-config-');
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ diloco, net: { heartbeatSeconds: 1, staleSeconds: 10 } }));
    const argsOf = (boot?: string) => ['--config', config, ...membersArgs(homes), ...(boot ? ['--bootstrap', boot] : [])];
    const env = testEnv({ MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true' });

    const nodes: RunningDaemon[] = [];
    for (const h of homes) {
      const boot = nodes[0] ? ((await nodes[0].get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string) : undefined;
      const d = await startDaemon({ home: h.home, env, args: argsOf(boot) });
      nodes.push(d);
      running.push(d);
    }
    const [a, b] = nodes as [RunningDaemon, RunningDaemon];
    const victim = homes[2] as (typeof homes)[0];

    // The victim sent its round-0 gradient and trains ahead for round 1: killed there.
    await waitFor(async () => trainings(nodes[2] as RunningDaemon).some((t) => t.round === 0), 300_000, 'the victim to train round 0');
    await (nodes[2] as RunningDaemon).kill();

    // The others go on without it (failover where it would lead), then it comes back on its home.
    await waitFor(
      async () => ((await a.get<Status>('/status')).diloco.latest?.round ?? -1) >= 2,
      600_000,
      'the two others to certify round 2',
    );
    const boot = (await a.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string;
    const again = await startDaemon({ home: victim.home, env, args: argsOf(boot), readyTimeoutMs: 60_000 });
    running.push(again);
    const all = [a, b, again];

    const final = await waitFor(
      async () => {
        const s = await Promise.all(all.map((d) => d.get<Status>('/status')));
        return s.every((x) => x.diloco.latest?.round === diloco.maxRounds - 1) && s;
      },
      600_000,
      'every node to certify the last round',
    );
    assert.equal(new Set(final.map((s) => s.diloco.latest?.sha256)).size, 1, 'the same latest checkpoint on every node');

    // The delayed schedule ran: rounds after the first took progress trained ahead.
    const taken = [...trainings(a), ...trainings(b)].filter((t) => t.ahead);
    assert.ok(taken.length >= 2, `rounds took progress trained ahead (${JSON.stringify(taken)})`);
    // After its restart the victim's first gradient is a plain one: what it trained ahead before the kill is dropped.
    const after = trainings(again);
    assert.ok(after.length >= 1, 'the victim trained again after its restart');
    assert.equal(after[0]?.ahead, false, 'its first gradient after the restart is trained from the base, not from progress it made before');

    const { outcomes } = await a.get<{ outcomes: Outcome[] }>('/diloco/outcomes');
    const late = outcomes.filter((o) => o.round > 2 && o.merged && o.contributors.some((c) => c.nodeId === victim.nodeId));
    assert.ok(late.length >= 1, 'a round after the restart merged the victim’s gradient');
    for (const d of all) assert.equal(await d.stop(), 0);
  },
);
