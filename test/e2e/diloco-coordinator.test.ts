import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { TrainerJobs } from '../../daemon/src/diloco/trainer-jobs.js';
import { makeCluster, testDilocoOptions } from '../helpers/coordinators.js';
import { waitFor } from '../helpers/daemon.js';

test(
  'three coordinators run three rounds with the real trainer: same latest everywhere, held-out loss falls',
  { timeout: 900_000 },
  async () => {
    const opts = testDilocoOptions({ maxRounds: 3 });
    const { cluster, coordinators, logFile } = makeCluster(3, opts);
    const genesis = await (async () => {
      await Promise.all(coordinators.map((c) => c.start()));
      return waitFor(() => (coordinators[0]?.status()['latest'] as { sha256: string } | null)?.sha256, 60_000, 'genesis checkpoint');
    })();
    try {
      await waitFor(() => coordinators.every((c) => c.currentRound() >= 3), 800_000, `three merged rounds (log: ${logFile})`);
      const latest = coordinators.map((c) => c.status()['latest'] as { sha256: string; round: number });
      assert.equal(new Set(latest.map((l) => l.sha256)).size, 1, 'every node ends with the same latest hash');
      assert.equal(latest[0]?.round, 2);
      assert.ok(cluster.contributions.length >= 3 * 2, `contributions recorded: ${cluster.contributions.length}`);
      const jobs = new TrainerJobs(opts, pino({ level: 'silent' }), process.env);
      const home = [...cluster.nodes.values()][0]?.home as string;
      const before = await jobs.heldOutLoss(`${home}/checkpoints/${genesis}.safetensors`, 8);
      const after = await jobs.heldOutLoss(`${home}/checkpoints/${latest[0]?.sha256}.safetensors`, 8);
      assert.ok(after < before, `held-out loss after round 3 (${after}) is below round 0 (${before})`);
    } finally {
      await Promise.all(coordinators.map((c) => c.stop()));
    }
  },
);
