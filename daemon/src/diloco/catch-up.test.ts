import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CatchUp } from './catch-up.js';
import type { RoundContext } from './context.js';
import type { Promotion } from './promotion.js';

const FANOUT = 4;

/** A node at round `at` among `members` live members that all say the network is at round 9. */
function behind(members: number, at = 0) {
  const asked: string[][] = [];
  let probe: string[] = [];
  let round = at;
  const ctx = {
    me: 'node-self',
    opts: { announceGraceSec: 30, catchUpFanout: FANOUT },
    outcomes: { currentRound: () => round },
    network: {
      livePeers: () => Array.from({ length: members }, (_, i) => ({ nodeId: `node-${i}`, roles: ['trainer'], member: true })),
      latestOf: async (peer: string) => {
        probe.push(peer);
        return { accepted: true, reason: '', currentRound: 9 };
      },
      lineageOf: async () => [],
    },
    log: { info: () => undefined, debug: () => undefined, warn: () => undefined },
    refuser: { note: () => undefined },
  } as unknown as RoundContext;
  // Each page of lineage moves the node one round, until it is where its peers are.
  const promotion = {
    applyChain: async () => (round < 9 ? (round++, 1) : 0),
  } as unknown as Promotion;
  const catchUp = new CatchUp(ctx, promotion);
  const run = async () => {
    probe = [];
    catchUp.soon();
    const moved = await catchUp.probe();
    asked.push(probe);
    return moved;
  };
  return { run, asked, round: () => round };
}

test('a node that is behind asks a fresh random few of the live members where the network is, not all of them', async () => {
  const n = behind(40);
  assert.equal(await n.run(), true, 'it catches up from the sample');
  assert.equal(n.round(), 9);
  for (let i = 0; i < 9; i++) await n.run();
  assert.ok(
    n.asked.every((a) => a.length === FANOUT && new Set(a).size === FANOUT),
    `${FANOUT} distinct members per probe: ${n.asked.map((a) => a.length).join(', ')}`,
  );
  assert.ok(new Set(n.asked.flat()).size > 2 * FANOUT, 'a fresh sample each probe');
  const few = behind(2);
  await few.run();
  assert.equal(few.asked[0]!.length, 2, 'all of them when there are fewer than the sample');
});
