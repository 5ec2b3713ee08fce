import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RoundContext } from './context.js';
import { Leader } from './leader.js';
import type { LocalTraining } from './local-training.js';
import type { Ack } from './messages.js';
import type { RoundRow } from './round-repo.js';
import type { Verifier } from './verifier.js';
import type { Voting } from './voting.js';

/**
 * A leader back after being away: the round row it persisted says it leads round 1 and every trainer accepted it,
 * but meanwhile some of them gave up on it. `answers` maps a trainer to what it says to the announcement now.
 */
function returningLeader(answers: Record<string, string>) {
  const me = 'node-a';
  const trainers = [me, ...Object.keys(answers)];
  const failed = new Set<string>();
  const steppedDown: string[] = [];
  const asked: string[] = [];
  let row: RoundRow = {
    round: 1,
    leader: me,
    state: 'collecting',
    baseSha256: 'b'.repeat(64),
    baseManifest: null,
    innerSteps: 8,
    deadlineMs: Date.now() + 600_000,
    eligible: trainers,
    needed: trainers,
    failedLeaders: [],
    mergedSha256: null,
    mergedManifest: null,
    note: null,
    acceptedAt: Date.now() - 60_000,
  };
  const ctx = {
    me,
    opts: { announceGraceSec: 20, roundTimeoutSec: 600, quorum: 0.5, innerSteps: 8 },
    view: {
      trainers: () => trainers,
      failed: () => failed,
      // Just restarted: it has heard from none of them yet, but they answer.
      isStale: () => true,
    },
    rounds: {
      get: () => row,
      update: (_: number, patch: Partial<RoundRow>) => (row = { ...row, ...patch }),
    },
    grads: { get: () => undefined, forRound: () => [] },
    network: {
      announce: async (id: string): Promise<Ack> => {
        asked.push(id);
        const reason = answers[id] as string;
        return { accepted: reason === '', reason };
      },
    },
    log: { info: () => undefined, debug: () => undefined, warn: () => undefined },
  } as unknown as RoundContext;
  const trainer = { running: true, own: () => undefined } as unknown as LocalTraining;
  const leader = new Leader(
    ctx,
    trainer,
    {} as Verifier,
    {} as Voting,
    () => undefined,
    (round, reason) => {
      failed.add(me);
      steppedDown.push(`${round}: ${reason}`);
    },
  );
  return { drive: () => leader.drive(row), steppedDown, asked };
}

const GAVE_UP = 'leader_failed: this node gave up on node-a in round 1';

test('a leader the other trainers gave up on while it was away steps down once two thirds of them say so', async () => {
  const l = returningLeader({ 'node-b': GAVE_UP, 'node-c': GAVE_UP, 'node-d': '' });
  await l.drive();
  assert.deepEqual(l.asked.sort(), ['node-b', 'node-c', 'node-d'], 'trainers that accepted but sent no gradient are asked again');
  assert.deepEqual(l.steppedDown, ['1: the other live trainers gave up on it']);
});

test('a third of the trainers saying they gave up on a leader does not make it step down', async () => {
  const l = returningLeader({ 'node-b': GAVE_UP, 'node-c': '', 'node-d': '' });
  await l.drive();
  assert.deepEqual(l.steppedDown, [], 'one hostile trainer in four cannot depose the leader');
  const other = returningLeader({ 'node-b': GAVE_UP, 'node-c': 'unreachable: timeout', 'node-d': '' });
  await other.drive();
  assert.deepEqual(other.steppedDown, [], 'an unreachable trainer is not one that gave up');
});
