import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOSTILE_ORDER } from './hostile.js';
import { expectedRefusal } from './sim-report.js';
import { simulate } from './simulation.js';

// 20 real coordinators, one hostile member of each kind (7 of 20: each kind must act; a third would stop the 2/3 vote
// quorum), 10% of the honest members churned each round, 1% of messages lost. About 5 s of CPU.
test('simulated rounds complete among hostile members, every hostile action is refused for its reason, honest nodes agree', async () => {
  const r = await simulate({
    nodes: 20,
    rounds: 3,
    seed: 7,
    hostileKinds: HOSTILE_ORDER,
    churn: 0.1,
    net: { loss: 0.01 },
    times: { trainSec: 20 },
  });
  const detail = JSON.stringify(r, null, 1);
  assert.equal(r.roundsCompleted, 3, detail);
  assert.ok(r.merged >= 2, detail);
  assert.equal(r.agree, true, `every honest live member ends on the same latest and lineage: ${detail}`);
  assert.ok(r.churned > 0, detail);
  for (const kind of HOSTILE_ORDER) {
    const want = expectedRefusal(kind);
    if (want) assert.ok((r.hostileRefused[want] ?? 0) > 0, `${kind}: refused as ${want}: ${detail}`);
  }
  assert.equal(r.falseAnnouncementsAccepted, 0, detail);
  assert.equal(r.hostileMerged, 0, `no poisoned, oversized, mislabelled or withheld gradient is merged: ${detail}`);
  assert.ok((r.failovers['no announcement within the grace'] ?? 0) > 0, `the silent leader is replaced: ${detail}`);
});

// Half the members do not train (storage nodes): they get no announcements, so they cannot see a leader fail. With a
// silent first leader the successor's proposal needs their votes (2/3 of 8 = 6; 3 honest trainers vote): they follow
// the trainers' votes. Before, they voted only for the first leader of the rotation and round 1 never certified.
test('members that do not train vote for a successor the trainers followed: a failover still reaches the quorum', async () => {
  const r = await simulate({
    nodes: 8,
    voters: 4,
    rounds: 3,
    seed: 11,
    hostileKinds: ['silent-leader'],
    churn: 0,
    net: { loss: 0 },
    times: { trainSec: 20 },
    maxSimSec: 3 * 3600,
  });
  const detail = JSON.stringify(r, null, 1);
  assert.ok((r.failovers['no announcement within the grace'] ?? 0) > 0, `the silent leader is replaced: ${detail}`);
  assert.equal(r.roundsCompleted, 3, detail);
  assert.equal(r.agree, true, detail);
});

// The churn e2e once stalled past its deadline: round 1's leader left right after announcing, the two storage members
// were killed before they saw it go, and it came back (after the trainers followed its successor) still leading in its
// own view. It refused the successor's proposal, so the storage members (which follow two thirds of the other live
// trainers) refused it too: 3 of the 4 votes needed. Now it steps down once the trainers it announces to say they gave
// up on it, and votes for the successor.
test('a leader that comes back after the trainers followed its successor steps down, and the round completes', async () => {
  const r = await simulate({
    nodes: 5,
    voters: 2,
    rounds: 3,
    seed: 5,
    hostile: 0,
    churn: 0,
    net: { loss: 0 },
    times: { trainSec: 20 },
    leaderAway: { leaderSec: 90, votersSec: 150 },
    maxSimSec: 3 * 3600,
  });
  const detail = JSON.stringify(r, null, 1);
  assert.ok((r.failovers['the leader stopped heartbeating'] ?? 0) > 0, `the trainers gave the leader up: ${detail}`);
  assert.equal(r.stepDowns, 1, `the returning leader stepped down: ${detail}`);
  assert.equal(r.roundsCompleted, 3, detail);
  assert.equal(r.agree, true, detail);
});

// Voters fetch each gradient from its contributor (the leader only when that one fails or is late): all from the
// leader put members x trainers gradients on one link each round (the busiest node moved 12x the bytes at 100 members).
test('voters fetch gradients from their contributors: no node carries much more than its share of the bytes', async () => {
  const r = await simulate({ nodes: 16, rounds: 2, seed: 3, times: { trainSec: 20 } });
  const detail = JSON.stringify(r.perNodeRound);
  assert.equal(r.roundsCompleted, 2, detail);
  const ratio = r.perNodeRound.maxBytesNode / r.perNodeRound.bytes;
  console.log(`busiest node / mean bytes per round: ${ratio.toFixed(2)}`);
  assert.ok(ratio < 2.5, `the busiest node moves ${ratio.toFixed(2)}x the mean: ${detail}`);
});
