import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChurn } from '../helpers/churn.js';

/**
 * The short version of the 50-node churn benchmark (test/bench/churn-daemons.ts, issue 18): eight real daemons, five
 * of them members (three trainers on `tiny`, two storage nodes), three strangers following the rounds. After each
 * certified round a quarter of the nodes leave and as many join (members come back under their own key, strangers
 * are new ones); after the first, another quarter is killed at once. The leader of the second round leaves as soon
 * as it announced it and comes back 30 s later to find the others following its successor: it must step down, or
 * its vote and those of the storage members that follow the trainers are missing (a round once stalled here past
 * its deadline). Rounds keep completing and every node left standing ends on the same latest checkpoint.
 */
test(
  'rounds keep completing on one latest while a quarter of the nodes leave and join every round and a quarter is killed at once',
  { timeout: 1_200_000 },
  async () => {
    const r = await runChurn({
      counts: { trainer: 3, storage: 2, server: 0, light: 3 },
      rounds: 2,
      churn: 0.25,
      leaderLeaves: true,
      killAfter: 1,
      killShare: 0.25,
      diloco: {
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
      },
      net: { heartbeatSeconds: 2, staleSeconds: 12 },
      timeoutMs: 1_100_000,
      seed: 18,
      log: (line) => console.log(`# ${line}`),
    });
    console.log(`# ${JSON.stringify(r)}`);
    assert.equal(r.rounds, 2, 'two rounds certified under churn');
    assert.equal(r.left, 4, 'two nodes left after each round');
    assert.equal(r.killed, 2, 'two nodes killed at once');
    assert.ok(r.latestRound >= 2, `the newest latest is round ${r.latestRound}`);
    assert.equal(r.onLatest, r.live, `every live node holds the same checkpoint for the last round: ${r.onLatest} of ${r.live}`);
    assert.ok(r.live >= 6, `the network is back to most of its size: ${r.live} live`);
  },
);
