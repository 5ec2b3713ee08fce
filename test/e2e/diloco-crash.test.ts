import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type RunningDaemon, membersArgs, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';
import { assertHashNamedFilesIntact } from '../helpers/home-files.js';

/**
 * Crash safety with real daemons: SIGKILL (the process kills itself at a named point, once) at each step of a round,
 * and of the trainer subprocess while it saves, then a restart on the same home and database:
 * - the leader of round 0 dies after it persisted "merging" (the merge is redone on restart: same inputs, same bytes);
 * - the leader of round 1 dies after its round was certified and its contributions recorded, before it published;
 * - a voter dies after it recorded its vote, before it sent it (it sends it after the restart, never another one);
 * - the trainer of the round-1 leader dies mid-save of its gradient (the final file name never holds half a file).
 * Every round still ends certified, identical on every node, with each contribution recorded exactly once.
 */
const diloco = {
  preset: 'tiny',
  innerSteps: 4,
  batch: 4,
  seq: 64,
  innerLr: 2e-3,
  warmup: 0,
  verifyWindows: 2,
  startDelaySec: 8,
  roundTimeoutSec: 300,
  announceGraceSec: 20,
  threads: 1,
  maxRounds: 3,
};

interface Status {
  nodeId: string;
  diloco: { latest: { sha256: string; round: number } | null };
}
interface Outcome {
  round: number;
  leader: string;
  merged: boolean;
  sha256: string;
  contributors: { nodeId: string; sha256: string }[];
}

const running: RunningDaemon[] = [];
after(async () => {
  for (const d of running) await d.kill();
});

test(
  'SIGKILL at every step of a round and of the trainer mid-save: restarted on their homes, the nodes certify every round identically and record each contribution once',
  { timeout: 1_500_000 },
  async () => {
    const homes = (await prepareHomes(3, 'magnet-crash-')).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    const [l0, l1, l2] = homes as [(typeof homes)[0], (typeof homes)[0], (typeof homes)[0]];
    const markers = tempHome('magnet-crash-markers-');
    const marker = (name: string) => join(markers, name);
    const crashes: Record<string, NodeJS.ProcessEnv> = {
      [l0.nodeId]: { MAGNET_CRASH_AT: `leader:merging@${marker('leader-merging')}` },
      [l1.nodeId]: {
        MAGNET_CRASH_AT: `leader:certified@${marker('leader-certified')}`,
        MAGNET_TRAINER_CRASH_AT: `save:pseudo-gradient@${marker('trainer-save')}`,
      },
      [l2.nodeId]: { MAGNET_CRASH_AT: `voter:voted@${marker('voter-voted')}` },
    };
    const config = join(markers, 'config.json');
    writeFileSync(config, JSON.stringify({ diloco, net: { heartbeatSeconds: 1, staleSeconds: 10 } }));
    const argsOf = (boot?: string) => ['--config', config, ...membersArgs(homes), ...(boot ? ['--bootstrap', boot] : [])];
    const envOf = (id: string) => testEnv({ MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true', ...crashes[id] });

    const first = await startDaemon({ home: l0.home, env: envOf(l0.nodeId), args: argsOf() });
    const boot = (await first.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string;
    const nodes = new Map<string, RunningDaemon>([[l0.nodeId, first]]);
    running.push(first);
    for (const h of [l1, l2]) {
      const d = await startDaemon({ home: h.home, env: envOf(h.nodeId), args: argsOf(boot) });
      nodes.set(h.nodeId, d);
      running.push(d);
    }

    // Whoever killed itself is restarted on the same home (its marker keeps it from crashing again).
    const restarts = new Map<string, number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const h of homes) {
          const d = nodes.get(h.nodeId) as RunningDaemon;
          if (d.proc.exitCode === null && d.proc.signalCode === null) continue;
          restarts.set(h.nodeId, (restarts.get(h.nodeId) ?? 0) + 1);
          const again = await startDaemon({ home: h.home, env: envOf(h.nodeId), args: argsOf(boot), readyTimeoutMs: 60_000 });
          nodes.set(h.nodeId, again);
          running.push(again);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();

    const final = await waitFor(
      async () => {
        const all = await Promise.all(homes.map((h) => (nodes.get(h.nodeId) as RunningDaemon).get<Status>('/status')));
        return all.every((s) => s.diloco.latest?.round === diloco.maxRounds - 1) && all;
      },
      1_350_000,
      'every node to certify three rounds',
    );
    watching = false;
    await watcher;

    assert.equal(new Set(final.map((s) => s.diloco.latest?.sha256)).size, 1, 'the same latest checkpoint on every node');
    for (const m of ['leader-merging', 'leader-certified', 'trainer-save', 'voter-voted'])
      assert.ok(existsSync(marker(m)), `the ${m} crash happened`);
    assert.ok(
      (restarts.get(l0.nodeId) ?? 0) >= 1 && (restarts.get(l1.nodeId) ?? 0) >= 1 && (restarts.get(l2.nodeId) ?? 0) >= 1,
      'every node was killed and restarted',
    );

    // Every node holds the same certified history; each round's leader recorded exactly its certified contributors.
    const d0 = nodes.get(l0.nodeId) as RunningDaemon;
    const { outcomes } = await d0.get<{ outcomes: Outcome[] }>('/diloco/outcomes');
    assert.deepEqual(
      outcomes.map((o) => o.round),
      [0, 1, 2],
    );
    // The same outcomes everywhere (each node may hold another quorum of votes for them: the first it received).
    const what = (os: Outcome[]) =>
      os.map(({ round, leader, merged, sha256, contributors }) => ({ round, leader, merged, sha256, contributors }));
    for (const h of homes) {
      const theirs = await (nodes.get(h.nodeId) as RunningDaemon).get<{ outcomes: Outcome[] }>('/diloco/outcomes');
      assert.deepEqual(what(theirs.outcomes), what(outcomes), `${h.nodeId} holds the same certified outcomes`);
    }
    for (const o of outcomes.filter((x) => x.merged)) {
      const leader = nodes.get(o.leader) as RunningDaemon;
      const { contributions } = await leader.get<{ contributions: { round: number; nodeId: string; gradientSha256: string }[] }>(
        '/chain/contributions',
      );
      const recorded = contributions.filter((c) => c.round === o.round).map((c) => `${c.nodeId}:${c.gradientSha256}`);
      assert.deepEqual(
        recorded.sort(),
        o.contributors.map((c) => `${c.nodeId}:${c.sha256}`).sort(),
        `round ${o.round}: contributions recorded once each`,
      );
    }
    for (const h of homes) assertHashNamedFilesIntact(h.home);
    for (const d of nodes.values()) assert.equal(await d.stop(), 0);
  },
);
