import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RoundContext } from './context.js';
import { Failover } from './failover.js';

/**
 * A trainer that stepped down in round 1 (the others gave up on it while it was away) now expects node-b, which is
 * live and already proposed its outcome, so it announces nothing more. `began` is how long ago the round began here.
 */
function steppedDown(opts: { began: number; proposed: boolean }) {
  const me = 'node-a';
  const gaveUp: string[] = [];
  const ctx = {
    me,
    opts: { announceGraceSec: 20, roundTimeoutSec: 600 },
    outcomes: {
      currentRound: () => 1,
      proposals: () => (opts.proposed ? [{ digest: 'd', proposal: { round: 1, leader: 'node-b' } }] : []),
      failLeader: (_: number, leader: string, reason: string) => (gaveUp.push(`${leader}: ${reason}`), true),
    },
    view: {
      failed: () => new Set([me]),
      expectedLeader: () => 'node-b',
      isStale: () => false,
      trainers: () => [me, 'node-b', 'node-c'],
    },
    rounds: { get: () => ({ round: 1, leader: me, state: 'collecting', deadlineMs: Date.now() + 500_000 }) },
    metrics: { failovers: { inc: () => undefined } },
    log: { warn: () => undefined },
  } as unknown as RoundContext;
  const failover = new Failover(ctx, () => Date.now() - opts.began * 1000);
  failover.check();
  return gaveUp;
}

test('a live leader whose proposal this node holds is not given up on for lateness while the round may still run', () => {
  assert.deepEqual(steppedDown({ began: 60, proposed: true }), [], 'it proposed: no announcement is coming, and none is owed');
  assert.deepEqual(steppedDown({ began: 60, proposed: false }), ['node-b: no announcement within the grace']);
  assert.deepEqual(
    steppedDown({ began: 700, proposed: true }),
    ['node-b: no announcement within the grace'],
    'past the round timeout and three graces it is given up on all the same',
  );
});
