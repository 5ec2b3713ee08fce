import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eligibleTrainers, leaderOf, successorOf, viewDisagreement } from './election.js';

const self = { nodeId: 'node-bbbb000000000000', roles: ['trainer', 'storage'] };
const peers = [
  { nodeId: 'node-cccc000000000000', roles: ['trainer'] },
  { nodeId: 'node-aaaa000000000000', roles: ['trainer', 'server'] },
  { nodeId: 'node-dddd000000000000', roles: ['storage'] }, // cannot train
  { nodeId: 'node-cccc000000000000', roles: ['trainer'] }, // duplicate entry
];

test('eligible = trainers among live peers plus self, sorted by nodeId, without duplicates', () => {
  assert.deepEqual(eligibleTrainers(self, peers), ['node-aaaa000000000000', 'node-bbbb000000000000', 'node-cccc000000000000']);
  assert.deepEqual(eligibleTrainers({ nodeId: 'node-x', roles: ['server'] }, []), []);
});

test('leader = eligible[round mod N]; every view with the same members agrees', () => {
  const e = eligibleTrainers(self, peers);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((r) => leaderOf(r, e)),
    [e[0], e[1], e[2], e[0], e[1]],
  );
  const otherView = eligibleTrainers(peers[1] as typeof self, [self, peers[0] as typeof self]);
  assert.equal(leaderOf(7, otherView), leaderOf(7, e));
  assert.throws(() => leaderOf(0, []), /no eligible trainer/);
});

test('successor skips failed leaders in order and gives up when all failed', () => {
  const e = ['a', 'b', 'c'];
  assert.equal(successorOf(1, e, new Set()), 'b');
  assert.equal(successorOf(1, e, new Set(['b'])), 'c');
  assert.equal(successorOf(1, e, new Set(['b', 'c'])), 'a');
  assert.equal(successorOf(1, e, new Set(e)), undefined);
});

test('view disagreement names the differing members', () => {
  assert.equal(viewDisagreement(['a', 'b'], ['b', 'a']), undefined);
  assert.equal(viewDisagreement(['a', 'b'], ['a', 'c']), "eligible views differ: only ours [b], only the leader's [c]");
});
